"""The chat page's security headers in a real Chromium: the widget works under
its strict CSP with no violation reported, and the page refuses to be framed."""
import functools
import http.server
import threading

import pytest
from playwright.sync_api import expect

from helpers import NO_WEBSOCKET

pytestmark = pytest.mark.browser


def watch_console(chat):
    messages = []
    chat.page.on("console", lambda m: messages.append(m.text))
    return messages


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_widget_works_under_the_pages_csp(open_chat, transport):
    script = NO_WEBSOCKET if transport == "polling" else None
    alice = open_chat("alice", init_script=script, go=False)
    bob = open_chat("bob", init_script=script, go=False)
    alice_logs, bob_logs = watch_console(alice), watch_console(bob)
    response = alice.page.goto(alice.server.url + "/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    alice.wait_connected()
    bob.goto().wait_connected()
    assert alice.transport() == transport
    alice.search_and_open(bob)
    alice.send("under a strict policy")
    expect(bob.item(alice).locator(".chat-preview")).to_have_text("under a strict policy")
    bob.open_with(alice)
    expect(bob.bubble("under a strict policy", "other")).to_have_count(1)
    expect(alice.bubble("under a strict policy", "self").locator(".chat-state")) \
        .to_have_text("Seen")
    violations = [m for m in alice_logs + bob_logs
                  if "Content Security Policy" in m or "Refused to" in m]
    assert violations == []


def test_standalone_page_refuses_to_be_framed(browser, server, tmp_path):
    # Another site on this machine (the standard library's file server) frames
    # the login page.
    site = tmp_path / "framer"
    site.mkdir()
    (site / "index.html").write_text(
        f'<iframe id="f" src="{server.url}/login" width="600" height="400"></iframe>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    framer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=framer.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{framer.server_address[1]}/")
        page.wait_for_timeout(1000)
        framed = [f for f in page.frames if f != page.main_frame]
        assert len(framed) == 1
        assert framed[0].url.startswith("chrome-error:"), framed[0].url
        expect(page.frame_locator("#f").locator("input[name=username]")).to_have_count(0)
        # The same page opened on its own shows the form.
        page.goto(server.url + "/login")
        expect(page.locator("input[name=username]")).to_have_count(1)
    finally:
        context.close()
        framer.shutdown()
        framer.server_close()
