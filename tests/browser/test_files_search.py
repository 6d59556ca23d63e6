"""Sending files and searching messages in the widget, in Chromium: a pasted
image and an attached PDF reach the other user, an upload can be cancelled
half way, too large and refused files say so in words, a two-character
Chinese query finds a message and opens its conversation at it, and a result
hundreds of messages back opens at once and scrolls on to the newest."""
import re
import time

import pytest
from playwright.sync_api import expect

import uploadfiles as files
from helpers import NO_WEBSOCKET

from .conftest import RestartableServer
from .test_a11y import serious
from .test_chat import send_many
from .test_trust import SOCKET, block_socket

pytestmark = pytest.mark.browser

LIMIT = 300 * 1024  # CHAT_UPLOAD_MAX_BYTES here: "300 KB" in the widget's words

# A PNG drawn in the page, pasted as a real ClipboardEvent whose DataTransfer
# holds it as a File (what a browser hands over for a copied image).
PASTE_PNG = """async name => {
  var canvas = document.createElement('canvas');
  canvas.width = 48; canvas.height = 32;
  var g = canvas.getContext('2d');
  g.fillStyle = '#e11d48'; g.fillRect(0, 0, 48, 32);
  var blob = await new Promise(done => canvas.toBlob(done, 'image/png'));
  var data = new DataTransfer();
  data.items.add(new File([blob], name, {type: 'image/png'}));
  var input = document.getElementById('chat-input');
  input.focus();
  var e = new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true});
  input.dispatchEvent(e);
  return e.defaultPrevented;
}"""

# The widget learns the limit from the page; this makes it believe in a larger
# one, so that the server's own 413 is what it meets.
HIDE_LIMIT = """
new MutationObserver(function (changes, obs) {
  var w = document.getElementById('chat-widget');
  if (w) { w.setAttribute('data-upload-max', '104857600'); obs.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture
def server(tmp_path):
    s = RestartableServer(tmp_path, env={"FLASK_CHAT_UPLOAD_MAX_BYTES": str(LIMIT)}).start()
    yield s
    s.stop()


def upload_item(chat, name):
    return chat.page.locator(".chat-tray li.chat-upload").filter(has_text=name)


def stored_files(server):
    """The files the server's folder storage holds (names are the upload ids)."""
    root = server.instance / "chat-uploads"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def is_upload(method):
    return lambda r: r.request.method == method and re.search(r"/chat/api/uploads(/|$)", r.url)


def shown(page):
    """The texts of the open conversation's messages, top to bottom."""
    return page.locator(".chat-content li[data-message-id] .chat-text").all_text_contents()


def message_text(page, n):
    """The ``.chat-text`` of the open conversation's n-th message (-1: the last)."""
    rows = page.locator(".chat-content li[data-message-id]")
    return (rows.last if n == -1 else rows.nth(n)).locator(".chat-text")


def scroll_down_to(page, last, pages=60):
    """Scroll the open conversation to its foot, again and again, until its
    last message reads ``last``; return every text shown then."""
    box = page.locator(".chat-content")
    for _ in range(pages):
        texts = shown(page)
        if texts and texts[-1] == last:
            return texts
        box.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            "n => document.querySelectorAll('.chat-content li[data-message-id]').length > n",
            arg=len(texts))
    raise AssertionError(f"never reached {last!r}: the view ends with {shown(page)[-3:]}")


def history(server, session, other_id, query=""):
    r = session.get(f"{server.url}/chat/api/conversations/{other_id}/messages{query}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["messages"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_pasted_image_and_attached_pdf_reach_the_other(open_chat, transport):
    script = NO_WEBSOCKET if transport == "polling" else None
    alice = open_chat("alice", init_script=script)
    bob = open_chat("bob", init_script=script)
    if transport == "polling":
        assert alice.transport() == "polling" and bob.transport() == "polling"
    alice.search_and_open(bob)

    # A pasted image uploads at once; Enter with no text sends the image alone.
    assert alice.page.evaluate(PASTE_PNG, "pasted.png") is True
    chip = upload_item(alice, "pasted.png")
    expect(chip).to_have_class(re.compile(r"\bis-done\b"))
    expect(chip.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    alice.page.locator("#chat-input").press("Enter")
    expect(alice.page.locator(".chat-tray")).to_be_hidden()
    mine = alice.page.locator(".chat-content li.chat-self[data-message-id]")
    expect(mine).to_have_count(1)
    expect(mine.locator("img.chat-attachment")).to_have_attribute("alt", "pasted.png")
    # The conversation row names the files of a message without words.
    expect(alice.item(bob).locator(".chat-preview")).to_contain_text("pasted.png")

    # A PDF through the file input, sent with words.
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "plan.pdf", "mimeType": "application/pdf", "buffer": files.pdf()})
    expect(upload_item(alice, "plan.pdf")).to_have_class(re.compile(r"\bis-done\b"))
    alice.send("the plan")
    expect(alice.bubble("the plan", "self").locator("a.chat-attachment[download]")).to_have_count(1)
    expect(mine).to_have_count(2)

    # The server stored both, each with its file, the image alone without text.
    stored = history(alice.server, alice.session, bob.user["id"])
    assert [(m["content"], [a["name"] for a in m["attachments"]]) for m in stored] == [
        ("", ["pasted.png"]), ("the plan", ["plan.pdf"])]
    image, pdf = stored[0]["attachments"][0], stored[1]["attachments"][0]
    assert image["type"] == "image/png" and (image["width"], image["height"]) == (48, 32)
    assert pdf["type"] == "application/pdf"

    # Bob sees a thumbnail and a file card, and may fetch both.
    bob.open_with(alice)
    theirs = bob.page.locator(".chat-content li.chat-other")
    expect(theirs).to_have_count(2)
    thumb = theirs.nth(0).locator("img.chat-attachment")
    expect(thumb).to_have_attribute("src", image["thumb_url"])
    bob.page.wait_for_function("img => img.complete && img.naturalWidth === 48",
                               arg=thumb.element_handle())
    card = bob.bubble("the plan", "other").locator("a.chat-attachment[download]")
    expect(card).to_have_attribute("href", pdf["url"])
    expect(card).to_have_attribute("download", "plan.pdf")
    got = bob.session.get(bob.server.url + pdf["url"], timeout=10)
    assert got.status_code == 200 and got.content == files.pdf()
    assert bob.session.get(bob.server.url + image["url"], timeout=10).status_code == 200


def test_cancel_half_way_too_large_and_refused_files(open_chat, server, screenshot):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)

    # A slow upload shows its progress, and cancelling it aborts the request.
    cdp = alice.context.new_cdp_session(alice.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 32 * 1024})
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "slow.txt", "mimeType": "text/plain", "buffer": b"slow upload\n" * 24000})
    chip = upload_item(alice, "slow.txt")
    bar = chip.locator("[role=progressbar]")
    expect(chip).to_be_visible()
    alice.page.wait_for_function(
        "b => +b.getAttribute('aria-valuenow') > 0 && +b.getAttribute('aria-valuenow') < 100",
        arg=bar.element_handle())
    # Send now refuses: the file is not there yet, and the notice says so.
    alice.page.locator("#chat-input").press("Enter")
    expect(alice.page.locator(".chat-notice")).to_contain_text("Wait until the files have uploaded")
    cancel = chip.get_by_role("button", name="Cancel uploading slow.txt")
    cancel.focus()
    with alice.page.expect_event("requestfailed") as aborted:
        alice.page.keyboard.press("Enter")  # keyboard reachable
    assert aborted.value.url.endswith("/chat/api/uploads")
    expect(alice.page.locator(".chat-tray")).to_be_hidden()
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    alice.page.locator("#chat-input").press("Enter")  # nothing left to send
    alice.page.wait_for_timeout(500)
    expect(alice.page.locator(".chat-content li.chat-self")).to_have_count(0)
    assert history(server, alice.session, bob.user["id"]) == []
    assert stored_files(server) == []  # the aborted request stored nothing

    # Cancelled once the whole file is up but before the answer came (a slow
    # answer here): the server has stored it, so the widget waits for the
    # answer out of sight and deletes the file.
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": 200, "uploadThroughput": -1})
    with alice.page.expect_response(is_upload("POST")) as answered:
        alice.page.locator(".chat-file-input").set_input_files(
            {"name": "answered.txt", "mimeType": "text/plain", "buffer": b"all sent\n" * 20000})
        waiting = upload_item(alice, "answered.txt")
        expect(waiting.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
        expect(waiting).not_to_have_class(re.compile(r"\bis-done\b"))
        with alice.page.expect_response(is_upload("DELETE")) as removed:
            waiting.get_by_role("button", name="Cancel uploading answered.txt").click()
            expect(alice.page.locator(".chat-tray")).to_be_hidden()
            cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    kept = answered.value.json()["attachment"]
    assert removed.value.status == 204 and removed.value.url.endswith("/" + kept["id"])
    assert stored_files(server) == []
    assert alice.session.get(server.url + kept["url"], timeout=10).status_code == 404

    # Too large, known before sending: said in words, no retry, removable.
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * (LIMIT + 1)})
    big = upload_item(alice, "big.txt")
    expect(big).to_have_class(re.compile(r"\bis-failed\b"))
    expect(big.locator(".chat-upload-error")).to_have_text("Too large: files can be at most 300 KB.")
    expect(big.get_by_role("button", name="Retry")).to_have_count(0)

    # A type the server refuses (an HTML page is not plain text): its 415, worded by it.
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "page.txt", "mimeType": "text/plain",
         "buffer": b"<!doctype html><html><body><script>alert(1)</script></body></html>"})
    refused = upload_item(alice, "page.txt")
    expect(refused).to_have_class(re.compile(r"\bis-failed\b"))
    expect(refused.locator(".chat-upload-error")).to_contain_text(
        re.compile(r"^Not uploaded: Files of this type .* cannot be sent\.$"))
    expect(refused.get_by_role("button", name="Retry")).to_have_count(0)
    screenshot(alice.page, "refused")
    for scheme in ("light", "dark"):  # the failed chips, their words and buttons
        alice.page.emulate_media(color_scheme=scheme)
        assert serious(alice.page) == [], scheme
    big.get_by_role("button", name="Remove big.txt").click()
    refused.get_by_role("button", name="Remove page.txt").click()
    expect(alice.page.locator(".chat-tray li")).to_have_count(0)

    # No network: said so, with Retry, which uploads it once the network is back.
    alice.context.set_offline(True)
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "later.pdf", "mimeType": "application/pdf", "buffer": files.pdf()})
    later = upload_item(alice, "later.pdf")
    expect(later.locator(".chat-upload-error")).to_have_text(
        "Not uploaded: the server could not be reached.")
    alice.context.set_offline(False)
    with alice.page.expect_response(is_upload("POST")) as uploaded:
        later.get_by_role("button", name="Retry").click()
    expect(later).to_have_class(re.compile(r"\bis-done\b"))
    att = uploaded.value.json()["attachment"]
    assert stored_files(server) == [att["id"]]
    # A finished upload removed from the tray is deleted on the server.
    with alice.page.expect_response(is_upload("DELETE")) as removed:
        later.get_by_role("button", name="Remove later.pdf").click()
    assert removed.value.status == 204
    expect(alice.page.locator(".chat-tray li")).to_have_count(0)
    assert stored_files(server) == []
    assert alice.session.get(server.url + att["url"], timeout=10).status_code == 404
    assert history(server, alice.session, bob.user["id"]) == []
    expect(bob.page.locator(".chat-list li")).to_have_count(0)


def test_too_large_for_the_server_says_so(open_chat):
    """Where the page's limit is not the server's, the server's 413 is worded too."""
    alice = open_chat("alice", init_script=HIDE_LIMIT)
    bob = open_chat("bob", go=False)
    alice.search_and_open(bob)
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * (LIMIT + 1)})
    big = upload_item(alice, "big.txt")
    expect(big).to_have_class(re.compile(r"\bis-failed\b"))
    expect(big.locator(".chat-upload-error")).to_have_text(
        f"Not uploaded: Files are at most {LIMIT} bytes.")
    expect(big.get_by_role("button", name="Retry")).to_have_count(0)


def test_search_finds_chinese_and_opens_the_conversation_at_it(open_chat, server, screenshot):
    alice = server.register("alice")
    carol = server.register("carol")
    bob = open_chat("bob", go=False)
    send_many(server, alice, bob.user["id"], ["明天去咖啡馆"] + [f"filler {i}" for i in range(45)])
    send_many(server, carol, bob.user["id"], ["你喜欢咖啡吗"])
    newest = history(server, bob.session, alice.user["id"], "?limit=30")  # the widget's first page
    assert "明天去咖啡馆" not in [m["content"] for m in newest], "it must be found further back"
    bob.goto().wait_connected()
    page = bob.page

    page.locator(".chat-tab").nth(1).click()
    find = page.locator(".chat-find-input")
    expect(find).to_be_focused()
    find.fill("咖")
    expect(page.locator(".chat-find .chat-search-none")).to_have_text("Type at least 2 characters.")
    find.fill("咖啡")
    found = page.locator(".chat-found li[data-message-id]")
    expect(found).to_have_count(2)
    expect(page.locator(".chat-list")).to_be_hidden()  # the results take its place
    # Newest first: carol's, then alice's; each names the conversation and the sender.
    expect(found.nth(0).locator(".chat-name")).to_have_text("carol")
    hit = found.nth(1)
    expect(hit.locator(".chat-name")).to_have_text("alice")
    expect(hit.locator(".chat-found-from")).to_have_text("alice: ")
    expect(hit.locator(".chat-preview")).to_have_text("alice: 明天去咖啡馆")
    expect(hit.locator("mark")).to_have_text("咖啡")
    expect(hit.locator("time")).not_to_have_text("")
    screenshot(page, "found")
    for scheme in ("light", "dark"):  # the tabs, the results and their marks
        page.emulate_media(color_scheme=scheme)
        assert serious(page) == [], scheme

    # Case-insensitive, highlighted as typed, and paged with "Load more".
    find.fill("FILLER")
    expect(found).to_have_count(20)
    expect(found.nth(0).locator("mark")).to_have_text("filler")
    page.locator(".chat-find-more").click()
    expect(found).to_have_count(40)
    page.locator(".chat-find-more").click()
    expect(found).to_have_count(45)
    expect(page.locator(".chat-find-more")).to_be_hidden()

    find.fill("咖啡")
    expect(found).to_have_count(2)
    message_id = found.nth(1).get_attribute("data-message-id")
    found.nth(1).click()
    expect(page.locator(".chat-header")).to_contain_text("alice")
    landed = page.locator(f'.chat-content li[data-message-id="{message_id}"]')
    expect(landed).to_have_class(re.compile(r"\bis-highlighted\b"))
    expect(landed.locator(".chat-text")).to_have_text("明天去咖啡馆")
    expect(landed).to_be_in_viewport()
    # It opened on the page around it; scrolling down brings the rest, each once.
    assert shown(page)[0] == "明天去咖啡馆" and "filler 44" not in shown(page)
    assert scroll_down_to(page, "filler 44") == ["明天去咖啡馆"] + [f"filler {i}" for i in range(45)]
    # On a phone, Back returns to the results and their field, not to a hidden row.
    page.set_viewport_size({"width": 390, "height": 760})
    page.locator(".chat-back").click()
    expect(found).to_have_count(2)
    expect(find).to_be_focused()


def conversation_with(server, alice, bob, kind):
    """alice's conversation with bob, direct or a group of the two: ``(target,
    history path, the row in bob's list, bob's cache key)``."""
    if kind == "direct":
        return ({"to": bob.user["id"]}, f"/chat/api/conversations/{alice.user['id']}/messages",
                bob.page.locator(f'.chat-list li[data-user-id="{alice.user["id"]}"]'),
                f"chat:{bob.user['id']}:c:{alice.user['id']}")
    r = alice.post(f"{server.url}/chat/api/groups",
                   json={"title": "Trip", "members": [bob.user["id"]]}, timeout=10)
    assert r.status_code == 201, r.text
    cid = r.json()["conversation"]["id"]
    return ({"conversation": cid}, f"/chat/api/groups/{cid}/messages",
            bob.page.locator(f'.chat-list li[data-conversation-id="{cid}"]'),
            f"chat:{bob.user['id']}:c:g#{cid}")


@pytest.mark.parametrize("kind, transport", [
    ("direct", "websocket"), ("direct", "polling"), ("group", "websocket")])
def test_a_result_far_back_opens_at_once_and_scrolls_down_to_the_newest(
        open_chat, server, kind, transport):
    """Hundreds of messages back: the page around it comes in one request,
    older and newer pages follow the scrolling, and what arrives live in the
    meantime is there, once and in order, when the newest page is reached."""
    alice = server.register("alice")
    bob = open_chat("bob", go=False, init_script=NO_WEBSOCKET if transport == "polling" else None)
    target, path, row, key = conversation_with(server, alice, bob, kind)
    older = [f"early {i}" for i in range(40)]
    later = [f"later {i}" for i in range(600)]
    send_many(server, alice, target, older + ["the needle in the haystack"] + later)
    bob.goto().wait_connected()
    page = bob.page
    if transport == "polling":
        assert bob.transport() == "polling"

    page.locator(".chat-tab").nth(1).click()
    page.locator(".chat-find-input").fill("needle")
    found = page.locator(".chat-found li[data-message-id]")
    expect(found).to_have_count(1)
    message_id = found.get_attribute("data-message-id")
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/messages" in r.url else None)
    started = time.monotonic()
    found.click()
    landed = page.locator(f'.chat-content li[data-message-id="{message_id}"]')
    expect(landed).to_have_class(re.compile(r"\bis-highlighted\b"), timeout=5000)
    assert time.monotonic() - started < 5
    expect(landed.locator(".chat-text")).to_have_text("the needle in the haystack")
    expect(landed).to_be_in_viewport()
    # One page around it, asked for once: half older, half newer.
    assert len([u for u in asked if f"around={message_id}" in u]) == 1
    assert not [u for u in asked if "before=" in u or "after=" in u]
    window = shown(page)
    assert window == older[26:] + ["the needle in the haystack"] + later[:15]
    # Older history on screen is not cached: a reload would open the newest page.
    assert page.evaluate("k => sessionStorage.getItem(k)", key) is None

    # Alice writes while Bob reads far back, and edits a message he has not reached.
    newest = bob.session.get(server.url + path, params={"limit": 100}, timeout=10).json()
    edited_id = next(m["id"] for m in newest["messages"] if m["content"] == "later 550")
    r = alice.patch(f"{server.url}/chat/api/messages/{edited_id}", json={"content": "later 550!"},
                    timeout=10)
    assert r.status_code == 200, r.text
    send_many(server, alice, target, ["live 1", "live 2", "live 3"])
    expect(row.locator(".chat-preview")).to_contain_text("live 3")
    assert shown(page) == window  # nothing lands below the older stretch
    expect(page.locator(".chat-jump")).to_be_visible()  # the way back to the newest

    # Up: the older pages, to the first message.
    box = page.locator(".chat-content")
    box.evaluate("el => { el.scrollTop = 0; }")
    expect(message_text(page, 0)).to_have_text("early 0")
    # Down: page after page to the newest, the live ones included, each once, in order.
    expected = older + ["the needle in the haystack"] + later + ["live 1", "live 2", "live 3"]
    expected[expected.index("later 550")] = "later 550! (edited)"  # with its mark
    assert scroll_down_to(page, "live 3") == expected
    edited = page.locator(f'.chat-content li[data-message-id="{edited_id}"]')
    expect(edited.locator(".chat-edited")).to_have_count(1)
    # At the newest again: live messages append as before, and the cache holds the newest.
    send_many(server, alice, target, ["live 4"])
    expect(message_text(page, -1)).to_have_text("live 4")
    assert shown(page) == expected + ["live 4"]
    cached = page.evaluate("k => JSON.parse(sessionStorage.getItem(k))", key)
    assert [m["content"] for m in cached["msgs"]][-2:] == ["live 3", "live 4"]


def test_live_messages_while_the_page_around_a_result_loads(open_chat, server):
    """The page around a result near the newest is read by the server before
    two new messages are stored but reaches the browser after they did: they
    are kept and shown after it, once each, in order."""
    alice = server.register("alice")
    bob = open_chat("bob", go=False)
    texts = [f"m{i}" for i in range(60)]
    send_many(server, alice, bob.user["id"], texts)
    bob.goto().wait_connected()
    page = bob.page
    needle = next(m for m in history(server, bob.session, alice.user["id"], "?limit=30")
                  if m["content"] == "m50")
    held = []

    def late(route):
        answer = route.fetch()  # the server has read the page
        assert answer.json()["has_newer"] is False
        send_many(server, alice, bob.user["id"], ["new 1", "new 2"])
        time.sleep(1)  # they reach the page (live) before the answer does
        held.append(route.request.url)
        route.fulfill(response=answer)

    page.route(re.compile(r"/messages\?around="), late)
    page.evaluate("a => ChatWidget.openConversation(a[0], a[1])",
                  [needle["conversation"], needle["id"]])
    expect(page.locator(f'.chat-content li[data-message-id="{needle["id"]}"]')).to_be_in_viewport()
    assert len(held) == 1
    expect(message_text(page, -1)).to_have_text("new 2")
    assert shown(page) == texts[-30:] + ["new 1", "new 2"]
    # It reached the newest: cached again, and the next message simply follows.
    send_many(server, alice, bob.user["id"], ["new 3"])
    expect(message_text(page, -1)).to_have_text("new 3")
    assert shown(page) == texts[-30:] + ["new 1", "new 2", "new 3"]


def test_outbox_keeps_attachments_across_a_reload(open_chat, server):
    """A message with a file written while the socket is down waits in the
    outbox with its attachment, survives a reload, and goes out once."""
    alice = open_chat("alice", init_script=NO_WEBSOCKET)
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("hello")
    expect(bob.item(alice)).to_have_count(1)
    block_socket(alice)  # uploads are plain HTTP: they still work
    alice.page.reload()
    expect(alice.page.locator(".chat-status")).not_to_have_attribute("data-state", "connected")
    alice.page.locator(".chat-file-input").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": files.png((80, 60))})
    expect(upload_item(alice, "photo.png")).to_have_class(re.compile(r"\bis-done\b"))
    alice.send("photo while cut off")
    waiting = alice.bubble("photo while cut off", "self")
    expect(waiting).to_have_class(re.compile("chat-pending"))
    expect(waiting.locator("img.chat-attachment")).to_have_attribute("alt", "photo.png")
    outbox = alice.page.evaluate(f"JSON.parse(sessionStorage.getItem('chat:{alice.user['id']}:outbox'))")
    assert [[a["name"] for a in p["attachments"]] for p in outbox] == [["photo.png"]]

    alice.page.reload()
    waiting = alice.bubble("photo while cut off", "self")
    expect(waiting.locator("img.chat-attachment")).to_have_count(1)
    alice.page.unroute(SOCKET)
    alice.wait_connected()
    bob.open_with(alice)
    arrived = bob.bubble("photo while cut off", "other")
    expect(arrived.locator("img.chat-attachment")).to_have_attribute("alt", "photo.png")
    expect(alice.bubble("photo while cut off", "self")).not_to_have_class(re.compile("chat-pending"))
    stored = [m for m in history(server, bob.session, alice.user["id"])
              if m["content"] == "photo while cut off"]
    assert [[a["name"] for a in m["attachments"]] for m in stored] == [["photo.png"]]


def test_the_tray_keeps_finished_uploads_across_a_reload(open_chat, server):
    """Files uploaded but not sent yet are still in the tray after a reload,
    only in their own conversation; removing one deletes it; the rest go out."""
    alice = open_chat("alice")
    bob = open_chat("bob")
    carol = open_chat("carol")
    alice.search_and_open(carol)
    alice.search_and_open(bob)
    alice.page.locator(".chat-file-input").set_input_files([
        {"name": "keep.png", "mimeType": "image/png", "buffer": files.png((80, 60))},
        {"name": "drop.pdf", "mimeType": "application/pdf", "buffer": files.pdf()}])
    for name in ("keep.png", "drop.pdf"):
        expect(upload_item(alice, name)).to_have_class(re.compile(r"\bis-done\b"))

    alice.page.reload()
    alice.wait_connected()
    alice.search_and_open(bob)
    for name in ("keep.png", "drop.pdf"):
        expect(upload_item(alice, name)).to_have_class(re.compile(r"\bis-done\b"))
    alice.search_and_open(carol)
    expect(alice.page.locator(".chat-tray li.chat-upload")).to_have_count(0)
    alice.search_and_open(bob)
    with alice.page.expect_response(lambda r: r.request.method == "DELETE"
                                    and "/chat/api/uploads/" in r.url) as gone:
        upload_item(alice, "drop.pdf").locator(".chat-upload-remove").click()
    assert gone.value.status == 204
    alice.page.reload()
    alice.wait_connected()
    alice.search_and_open(bob)
    expect(alice.page.locator(".chat-tray li.chat-upload")).to_have_count(1)
    alice.send("after the reload")
    bob.open_with(alice)
    arrived = bob.bubble("after the reload", "other")
    expect(arrived.locator("img.chat-attachment")).to_have_attribute("alt", "keep.png")
    expect(arrived.locator(".chat-file")).to_have_count(0)
    # Sent: the tray is empty, and stays so after another reload.
    expect(alice.page.locator(".chat-tray li.chat-upload")).to_have_count(0)
    alice.page.reload()
    alice.wait_connected()
    alice.search_and_open(bob)
    expect(alice.bubble("after the reload", "self")).to_have_count(1)
    expect(alice.page.locator(".chat-tray li.chat-upload")).to_have_count(0)


# Files dragged from the desktop: a DataTransfer with a File, dropped on the conversation.
DROP = """name => {
  var data = new DataTransfer();
  data.items.add(new File(['dropped text\\n'], name, {type: 'text/plain'}));
  var box = document.querySelector('.chat-container');
  var over = new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true});
  box.dispatchEvent(over);
  var outlined = box.classList.contains('is-dropping');
  box.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
  return [over.defaultPrevented, outlined, box.classList.contains('is-dropping')];
}"""


def test_drop_and_the_chinese_words(open_chat, server):
    """A drop uploads like the button; the new words are Chinese in Chinese."""
    alice = open_chat("alice", go=False)
    alice.context.add_cookies([{"name": "chat_lang", "value": "zh-Hans", "url": server.url}])
    alice.goto().wait_connected()
    bob = open_chat("bob", go=False)
    page = alice.page
    expect(page.locator(".chat-tab")).to_have_text(["用户", "消息"])
    page.locator(".chat-tab").nth(1).click()
    expect(page.locator(".chat-find-input")).to_have_attribute("placeholder", "搜索消息")
    page.locator(".chat-find-input").fill("咖")
    expect(page.locator(".chat-find .chat-search-none")).to_have_text("请至少输入 2 个字符。")
    page.locator(".chat-find-input").fill("没有这句话")
    expect(page.locator(".chat-find .chat-search-none")).to_have_text("没有找到消息")

    page.evaluate("id => ChatWidget.open(id)", bob.user["id"])
    expect(page.locator(".chat-attach")).to_have_attribute("aria-label", "添加附件")
    assert page.evaluate(DROP, "notes.txt") == [True, True, False]
    chip = upload_item(alice, "notes.txt")
    expect(chip).to_have_class(re.compile(r"\bis-done\b"))
    expect(chip.get_by_role("button", name="移除 notes.txt")).to_have_count(1)
    expect(chip.locator("[role=progressbar]")).to_have_attribute("aria-label", "正在上传 notes.txt")
    # One uploaded but not wanted: removed from the tray, it is not sent.
    page.locator(".chat-file-input").set_input_files(
        {"name": "extra.pdf", "mimeType": "application/pdf", "buffer": files.pdf()})
    extra = upload_item(alice, "extra.pdf")
    expect(extra).to_have_class(re.compile(r"\bis-done\b"))
    extra.get_by_role("button", name="移除 extra.pdf").click()
    expect(page.locator(".chat-tray li")).to_have_count(1)
    alice.send("拖进来的")
    expect(alice.bubble("拖进来的", "self").locator("a.chat-attachment[download]")).to_have_attribute(
        "download", "notes.txt")
    stored = history(server, alice.session, bob.user["id"])
    assert [[a["name"] for a in m["attachments"]] for m in stored] == [["notes.txt"]]
