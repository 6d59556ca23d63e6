"""The widget in a real browser: two users chatting, list, receipts, safety."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_two_users_chat_both_ways(open_chat, screenshot):
    alice = open_chat("alice")
    bob = open_chat("bob", go=False)

    # Bob has never connected: Alice finds him, writes, and learns he is offline.
    alice.search_and_open(bob)
    expect(alice.page.locator(".chat-header-state")).to_have_text("offline")
    alice.send("Hi Bob")
    mine = alice.bubble("Hi Bob", "self")
    expect(mine).to_have_count(1)
    expect(mine.locator(".chat-state")).to_have_text("Sent")
    expect(alice.page.locator(".chat-notice")).to_contain_text("they will see it when they come back")

    # Bob comes online: Alice sees it; Bob's list has the conversation, unread.
    bob.goto().wait_connected()
    expect(alice.page.locator(".chat-header-state")).to_have_text("online")
    expect(alice.page.locator(".chat-notice")).to_be_hidden()
    expect(bob.item(alice).locator(".unread")).to_have_text("1")
    expect(bob.item(alice).locator(".chat-preview")).to_have_text("Hi Bob")
    bob.open_with(alice)
    expect(bob.bubble("Hi Bob", "other")).to_have_count(1)
    expect(mine.locator(".chat-state")).to_have_text("Seen")

    # Typing shows on the other side; Shift+Enter breaks the line, Enter sends.
    box = bob.page.locator("#chat-input")
    box.type("Hello")
    expect(alice.page.locator(".chat-typing")).to_have_text("bob is typing\u2026")
    box.press("Shift+Enter")
    box.type("Alice")
    box.press("Enter")
    expect(alice.bubble("Hello\nAlice", "other")).to_have_count(1)
    expect(bob.bubble("Hello\nAlice", "self")).to_have_count(1)
    expect(box).to_have_value("")
    expect(alice.item(bob).locator(".chat-preview")).to_have_text("Hello Alice")
    expect(alice.item(bob).locator(".chat-time")).to_have_text("just now")

    alice.send("How are you?")
    expect(bob.bubble("How are you?", "other")).to_have_count(1)
    expect(alice.bubbles()).to_have_count(3)
    expect(bob.bubbles()).to_have_count(3)
    screenshot(alice.page, "alice")
    screenshot(bob.page, "bob")


def test_unread_counts_shown_and_cleared_on_open(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    carol = open_chat("carol")
    alice.search_and_open(bob)
    for text in ("one", "two", "three"):
        alice.send(text)
    expect(alice.bubbles("self")).to_have_count(3)
    carol.search_and_open(bob)
    carol.send("from carol")

    # Newest conversation first, each with its own count.
    expect(bob.page.locator(".chat-list li[data-user-id]")).to_have_count(2)
    expect(bob.page.locator(".chat-list li[data-user-id]").first).to_have_attribute(
        "data-user-id", str(carol.user["id"]))
    expect(bob.item(alice).locator(".unread")).to_have_text("3")
    expect(bob.item(carol).locator(".unread")).to_have_text("1")
    expect(bob.item(alice)).to_have_class(re.compile(r"\bonline\b"))

    bob.open_with(alice)
    expect(bob.item(alice).locator(".unread")).to_have_text("")
    expect(bob.item(carol).locator(".unread")).to_have_text("1")
    expect(alice.bubble("three", "self").locator(".chat-state")).to_have_text("Seen")

    # Read on the server too: a fresh load shows the same counts.
    bob.page.reload()
    bob.wait_connected()
    expect(bob.item(alice).locator(".unread")).to_have_text("")
    expect(bob.item(carol).locator(".unread")).to_have_text("1")
    counts = {c["other"]["id"]: c["unread"] for c in
              bob.session.get(bob.server.url + "/chat/api/conversations").json()["conversations"]}
    assert counts == {alice.user["id"]: 0, carol.user["id"]: 1}


PAYLOAD = ('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
           '<b>bold</b> &amp; "quotes"')


def test_html_payload_shows_as_text_and_runs_nothing(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send(PAYLOAD)
    expect(bob.item(alice).locator(".chat-preview")).to_have_text(PAYLOAD)
    bob.open_with(alice)
    for chat, side in ((alice, "self"), (bob, "other")):
        bubble = chat.bubble(PAYLOAD, side)
        expect(bubble).to_have_count(1)
        assert bubble.locator(".chat-text").text_content() == PAYLOAD
        assert chat.page.locator("#chat-widget img[src='x'], #chat-widget b, "
                                 "#chat-widget script").count() == 0
        assert chat.page.evaluate("window.__pwned") is None
    # Reloaded from the cache, it is still text.
    bob.page.reload()
    bob.wait_connected()
    expect(bob.bubble(PAYLOAD, "other")).to_have_count(1)
    assert bob.page.evaluate("window.__pwned") is None


def test_reload_renders_from_cache_then_fetches_only_newer(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("first")
    bob.open_with(alice)
    bob.send("second")
    expect(alice.bubbles()).to_have_count(2)
    own = f"chat:{alice.user['id']}:"
    assert own + f"c:{bob.user['id']}" in alice.cache_keys()
    alice.page.wait_for_function(f"() => typeof JSON.parse(sessionStorage.getItem('{own}rev')) === 'number'")
    rev = alice.page.evaluate(f"JSON.parse(sessionStorage.getItem('{own}rev'))")
    alice.page.evaluate("sessionStorage.setItem('chat:999999:list', '[]')")  # someone else's

    # Alice leaves; Bob writes meanwhile; Alice comes back in the same tab.
    alice.page.goto("about:blank")
    bob.send("while you were away")
    expect(bob.bubble("while you were away", "self").locator(".chat-state")).to_have_text("Sent")
    held, history = [], []

    def hold(route):
        if "since=" in route.request.url and not released:
            held.append(route)
        else:
            route.continue_()

    released = False
    alice.page.route("**/chat/api/sync*", hold)
    alice.page.on("request", lambda r: "/messages" in r.url and history.append(r.url))
    alice.goto()
    # The cached conversation is on screen before any catch-up has answered.
    expect(alice.bubble("second", "other")).to_have_count(1)
    expect(alice.bubble("first", "self")).to_have_count(1)
    for _ in range(50):  # the route handler runs on Playwright's side, maybe later
        if held:
            break
        alice.page.wait_for_timeout(100)
    assert held
    # What changed comes from the stored rev; the cached conversation's pages are
    # never fetched again (only its newest message, for the other's presence).
    assert f"since={rev}&" in held[0].request.url
    assert all(re.search(r"[?&]limit=1(&|$)", url) for url in history), history
    expect(alice.bubble("while you were away")).to_have_count(0)
    assert not [k for k in alice.cache_keys() if not k.startswith(own)]

    released = True
    for route in held:
        route.continue_()
    expect(alice.bubble("while you were away", "other")).to_have_count(1)
    alice.wait_connected()
    expect(alice.bubbles()).to_have_count(3)
    expect(bob.bubble("while you were away", "self").locator(".chat-state")).to_have_text("Seen")


def test_logout_clears_the_cache(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("secret plans")
    expect(alice.bubble("secret plans", "self").locator(".chat-state")).to_have_text("Delivered")
    assert alice.cache_keys()

    alice.page.click("[data-chat-logout]")
    alice.page.wait_for_url("**/login")
    assert alice.cache_keys() == []
    assert alice.page.context.request.get(alice.server.url + "/chat/api/me").status == 401

    # Bob logs in in the same tab: nothing of Alice's shows up.
    alice.page.fill("input[name=username]", "bob")
    alice.page.fill("input[name=password]", "password123")
    alice.page.click("button[type=submit]")
    alice.page.wait_for_url(alice.server.url + "/")
    alice.wait_connected()
    expect(alice.page.locator(".chat-me-name")).to_have_text("bob")
    expect(alice.item(alice).locator(".chat-preview")).to_have_text("secret plans")
    assert all(k.startswith(f"chat:{bob.user['id']}:") for k in alice.cache_keys())


def send_many(server, session, to, texts):
    """Send from a python-socketio client: quicker than typing 120 messages.
    ``to`` is a user id, or a ``chat-to`` target such as ``{"conversation": id}``."""
    target = to if isinstance(to, dict) else {"to": to}
    import socketio

    client = socketio.SimpleClient()
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    client.connect(server.url, namespace="/chat", transports=["websocket"],
                   headers={"Cookie": cookie}, wait_timeout=10)
    try:
        for text in texts:
            assert client.call("chat-to", {**target, "content": text}, timeout=10)["ok"]
    finally:
        client.disconnect()


def test_history_pages_tabs_and_refusals(open_chat, server):
    alice = open_chat("alice")
    bob = open_chat("bob", go=False)
    send_many(server, bob.session, alice.user["id"], [f"m{i}" for i in range(1, 121)])

    # The newest page first; scrolling to the top loads older ones, in order.
    alice.page.reload()
    alice.open_with(bob)
    expect(alice.bubbles("other")).to_have_count(30)
    expect(alice.bubbles().last.locator(".chat-text")).to_have_text("m120")
    for shown in (60, 90, 120):
        alice.page.locator(".chat-content").evaluate("el => { el.scrollTop = 0; }")
        expect(alice.bubbles("other")).to_have_count(shown)
    expect(alice.bubbles().first.locator(".chat-text")).to_have_text("m1")
    expect(alice.page.locator(".chat-older")).to_be_hidden()
    texts = alice.page.locator(".chat-content li .chat-text").all_text_contents()
    assert texts == [f"m{i}" for i in range(1, 121)]
    cached = alice.page.evaluate(
        f"JSON.parse(sessionStorage.getItem('chat:{alice.user['id']}:c:{bob.user['id']}'))")
    assert [m["content"] for m in cached["msgs"]] == [f"m{i}" for i in range(21, 121)]
    assert cached["hasMore"] is True

    # A second tab of Alice's shows what the first one sends.
    tab = alice.context.new_page()
    tab.on("pageerror", lambda exc: alice.errors.append(str(exc)))
    tab.goto(server.url + "/")
    expect(tab.locator(".chat-status")).to_have_attribute("data-state", "connected")
    tab.locator(f'.chat-list li[data-user-id="{bob.user["id"]}"]').click()
    expect(tab.locator(".chat-content li").last.locator(".chat-text")).to_have_text("m120")
    alice.send("from the first tab")
    expect(tab.locator("li.chat-self .chat-text").last).to_have_text("from the first tab")

    # An over-long text is not sent and stays in the composer; the connection keeps working.
    alice.send("x" * 2001)
    expect(alice.page.locator(".chat-notice")).to_contain_text("at most 2000 characters")
    expect(alice.page.locator("#chat-input")).to_have_value("x" * 2001)
    alice.page.locator("#chat-input").fill("")
    alice.send("still here")
    expect(alice.bubble("still here", "self").locator(".chat-state")).to_have_text("Sent")
    expect(tab.locator("li.chat-self .chat-text").last).to_have_text("still here")


BROKEN_STORAGE = {
    "disabled": """Object.defineProperty(window, 'sessionStorage', {get: function () {
        throw new DOMException('denied', 'SecurityError'); }});""",
    # Room for the small keys, none for a conversation.
    "full": """(function (setItem) {
        Storage.prototype.setItem = function (k, v) {
            if (String(k).indexOf(':c:') >= 0) {
                throw new DOMException('full', 'QuotaExceededError'); }
            return setItem.call(this, k, v); };
    }(Storage.prototype.setItem));""",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_STORAGE))
def test_broken_storage_means_no_cache_not_errors(open_chat, kind):
    alice = open_chat("alice", init_script=BROKEN_STORAGE[kind])
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("no cache needed")
    bob.open_with(alice)
    expect(bob.bubble("no cache needed", "other")).to_have_count(1)
    bob.send("works anyway")
    expect(alice.bubble("works anyway", "other")).to_have_count(1)
    alice.page.reload()
    alice.wait_connected()
    alice.open_with(bob)
    expect(alice.bubbles()).to_have_count(2)
    if kind == "full":
        keys = alice.cache_keys()
        assert f"chat:{alice.user['id']}:list" in keys
        assert not [k for k in keys if ":c:" in k]


# Headless tabs are never hidden, so the page's visibility is put in the test's hands.
HIDEABLE = """Object.defineProperty(Document.prototype, 'hidden', {
    configurable: true, get: function () { return !!window.__hidden; }});"""


def set_hidden(chat, hidden):
    chat.page.evaluate("h => { window.__hidden = h; "
                       "document.dispatchEvent(new Event('visibilitychange')); }", hidden)


def test_hidden_tab_counts_in_title_and_reads_only_when_seen(open_chat):
    alice = open_chat("alice", init_script=HIDEABLE)
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("ping")
    bob.open_with(alice)

    set_hidden(alice, True)
    bob.send("one")
    bob.send("two")
    expect(alice.page).to_have_title("(2) Chat")
    expect(alice.bubble("two", "other")).to_have_count(1)
    expect(bob.bubble("two", "self").locator(".chat-state")).to_have_text("Delivered")
    expect(alice.page.locator(".chat-sr-only")).to_have_text("bob: two")  # announced

    set_hidden(alice, False)
    expect(alice.page).to_have_title("Chat")
    expect(bob.bubble("two", "self").locator(".chat-state")).to_have_text("Seen")
