"""Messages as every messenger shows them, and notifications: problems 7 and 8
of the "widget people trust" report."""
import re

import pytest
import requests
from playwright.sync_api import expect

from .test_chat import HIDEABLE, set_hidden

pytestmark = pytest.mark.browser

LONG = "https://example.com/" + "a_very_long_path_segment_without_breaks" * 4


def test_problem_7_links_days_groups_and_long_words(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob", viewport={"width": 390, "height": 844})
    alice.search_and_open(bob)
    text = f"see {LONG} and www.python.org. not javascript:alert(1) nor ftp://x.test"
    alice.send(text)
    alice.send("second <b>in a row</b>")
    bob.page.locator(f'.chat-list li[data-user-id="{alice.user["id"]}"]').click()
    first = bob.bubble(text, "other")
    expect(first).to_have_count(1)
    links = first.locator(".chat-text a")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_attribute("href", LONG)
    expect(links.nth(0)).to_have_text(LONG)
    expect(links.nth(1)).to_have_attribute("href", "https://www.python.org")
    expect(links.nth(1)).to_have_text("www.python.org")  # the full stop stays text
    for i in range(2):
        assert set(links.nth(i).get_attribute("rel").split()) == {"noopener", "noreferrer", "nofollow"}
        expect(links.nth(i)).to_have_attribute("target", "_blank")
    expect(bob.bubble("second <b>in a row</b>", "other").locator(".chat-text b")).to_have_count(0)

    # The long URL wraps inside its bubble on a phone: nothing scrolls sideways.
    content = bob.page.locator(".chat-content")
    assert content.evaluate("el => el.scrollWidth <= el.clientWidth")
    bubble = first.locator(".chat-bubble").bounding_box()
    assert bubble["x"] >= 0 and bubble["x"] + bubble["width"] <= 390

    # One day separator, one time for the group of two.
    days = bob.page.locator(".chat-day:visible")
    expect(days).to_have_count(1)
    expect(days).to_have_text("Today")
    expect(first.locator(".chat-stamp")).to_be_hidden()
    expect(bob.bubble("second <b>in a row</b>", "other").locator(".chat-stamp")).to_be_visible()
    expect(bob.bubble("second <b>in a row</b>", "other")).to_have_class(re.compile("chat-grouped"))


RECORD_NOTIFICATIONS = HIDEABLE + """
(function () {
  // Observes the browser's Notification API: records what the page asks of it.
  var Real = window.Notification;
  if (!Real) { return; }
  window.__notes = [];
  window.__asked = 0;
  function Recorded(title, options) {
    window.__notes.push({title: title, body: options && options.body});
    return new Real(title, options);
  }
  Recorded.prototype = Real.prototype;
  Object.defineProperty(Recorded, 'permission', {get: function () { return Real.permission; }});
  Recorded.requestPermission = function () {
    window.__asked += 1;
    return Real.requestPermission.apply(Real, arguments);
  };
  window.Notification = Recorded;
}());
"""


def test_problem_8_notifications_favicon_and_title(open_chat, server):
    alice = open_chat("alice", init_script=RECORD_NOTIFICATIONS, go=False)
    alice.context.grant_permissions(["notifications"], origin=server.url)
    icon_requests = []
    alice.page.on("request", lambda r: "favicon" in r.url and icon_requests.append(r.url))
    alice.goto().wait_connected()
    bob = open_chat("bob")
    assert alice.page.evaluate("window.__asked") == 0  # never asked on load

    # The standalone page has a favicon of its own, and /favicon.ico is never needed.
    href = alice.page.locator('link[rel~="icon"]').get_attribute("href")
    assert requests.get(server.url + href).status_code == 200
    assert not [u for u in icon_requests if u.endswith("/favicon.ico")]

    toggle = alice.page.locator(".chat-notify")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert alice.page.evaluate("window.__asked") == 1

    alice.search_and_open(bob)
    alice.send("hi")
    expect(bob.item(alice)).to_have_count(1)
    bob.open_with(alice)

    bob.send("visible tab: no notification")
    expect(alice.bubble("visible tab: no notification", "other")).to_have_count(1)
    set_hidden(alice, True)
    bob.send("while you look away")
    expect(alice.page).to_have_title("(1) Chat")
    alice.page.wait_for_function("() => window.__notes.length === 1")
    assert alice.page.evaluate("window.__notes") == [{"title": "bob", "body": "while you look away"}]
    badge = alice.page.locator('link[rel~="icon"]')
    expect(badge).to_have_attribute("href", re.compile("^data:image/png"))

    set_hidden(alice, False)
    expect(alice.page).to_have_title("Chat")
    expect(badge).to_have_attribute("href", href)

    # Turned off, it stays quiet.
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    set_hidden(alice, True)
    bob.send("quiet now")
    expect(alice.page).to_have_title("(1) Chat")
    alice.page.wait_for_timeout(500)
    assert alice.page.evaluate("window.__notes.length") == 1
