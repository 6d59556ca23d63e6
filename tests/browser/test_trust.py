"""What the widget tells the user is true, and nothing typed is lost.

Each test names the numbered problem of the "widget people trust" report it
covers; each failed on the widget before that work.
"""
import re

import pytest
from playwright.sync_api import expect

from helpers import NO_WEBSOCKET
from .test_chat import send_many

pytestmark = pytest.mark.browser

SOCKET = re.compile(r"/socket\.io/")
PHONE = {"width": 390, "height": 844}


def block_socket(chat):
    """The page and the HTTP API load; the socket never connects."""
    chat.page.route(SOCKET, lambda route: route.abort())


def test_problem_1_outbox_survives_reload_and_is_sent_on_reconnect(open_chat):
    alice = open_chat("alice", init_script=NO_WEBSOCKET)
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("hello")
    expect(bob.item(alice)).to_have_count(1)
    bob.open_with(alice)

    # Alice's socket cannot connect: what she writes waits, in order, and says so.
    block_socket(alice)
    alice.page.reload()
    expect(alice.page.locator(".chat-status")).not_to_have_attribute("data-state", "connected")
    alice.send("first while cut off")
    alice.send("second while cut off")
    waiting = alice.bubble("first while cut off", "self")
    expect(waiting).to_have_class(re.compile("chat-pending"))
    expect(waiting.locator(".chat-state")).to_have_text("Waiting for network\u2026")

    # A reload keeps them (the old widget lost them here).
    alice.page.reload()
    expect(alice.bubble("first while cut off", "self")).to_have_count(1)
    expect(alice.bubble("second while cut off", "self")).to_have_count(1)
    expect(bob.bubble("first while cut off")).to_have_count(0)

    # The connection returns: both go out by themselves, once each, in order.
    alice.page.unroute(SOCKET)
    alice.wait_connected()
    expect(bob.bubble("second while cut off", "other")).to_have_count(1)
    expect(bob.bubble("first while cut off", "other")).to_have_count(1)
    texts = bob.page.locator(".chat-content li .chat-text").all_text_contents()
    assert texts == ["hello", "first while cut off", "second while cut off"]
    expect(alice.bubble("second while cut off", "self").locator(".chat-state")).to_have_text(
        re.compile("Delivered|Seen"))
    assert alice.page.evaluate(
        f"JSON.parse(sessionStorage.getItem('chat:{alice.user['id']}:outbox'))") == []

    # A reload after that shows each message once: the resends were not doubled.
    alice.page.reload()
    alice.wait_connected()
    expect(alice.bubble("first while cut off", "self")).to_have_count(1)
    bob.page.reload()
    bob.wait_connected()
    bob.open_with(alice)
    expect(bob.bubbles()).to_have_count(3)


def test_problem_1_offline_then_online_sends_without_retry(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.context.set_offline(True)
    expect(alice.page.locator(".chat-status")).to_have_attribute("data-state", "reconnecting")
    alice.send("sent from a tunnel")
    expect(alice.bubble("sent from a tunnel", "self")).to_have_class(re.compile("chat-pending"))
    alice.page.wait_for_timeout(11000)  # past the send timeout of the old widget
    expect(alice.page.locator("li.chat-failed")).to_have_count(0)
    alice.context.set_offline(False)
    alice.wait_connected()
    expect(alice.bubble("sent from a tunnel", "self").locator(".chat-state")).to_have_text(
        re.compile("Delivered|Seen"))
    expect(bob.item(alice).locator(".chat-preview")).to_have_text("sent from a tunnel")


class AckGate:
    """Alice's Socket.IO traffic, through Playwright: acks (``43…`` packets)
    from the server can be held back, over WebSocket and over polling, and the
    page's WebSocket can be cut."""

    def __init__(self, page):
        self.holding, self.held, self.sockets = False, [], []
        page.route_web_socket(SOCKET, self.connect)
        page.route(SOCKET, self.poll)

    def connect(self, ws):
        server = ws.connect_to_server()
        self.sockets.append(ws)
        server.on_message(lambda frame: self.from_server(ws, frame))

    def from_server(self, ws, frame):
        if self.holding and isinstance(frame, str) and frame.startswith("43"):  # 43/chat,N[…]
            self.held.append(lambda: ws.send(frame))
        else:
            ws.send(frame)

    def poll(self, route):
        if not self.holding or route.request.method != "GET":
            route.continue_()
            return
        response = route.fetch()
        packets = response.text().split("\x1e")
        if self.holding and any(p.startswith("43") for p in packets):
            self.held.append(lambda: route.fulfill(response=response))
        else:
            route.fulfill(response=response)

    def wait_held(self, page, seconds=15):
        for _ in range(seconds * 10):
            if self.held:
                return
            page.wait_for_timeout(100)  # Playwright handles the routes meanwhile
        raise AssertionError("no ack was held")

    def cut(self):
        """Close the page's WebSocket; what was held for it is gone with it."""
        self.held = []
        self.sockets[-1].close()

    def release(self):
        self.holding = False
        held, self.held = self.held, []
        for deliver in held:
            deliver()


def test_problem_1_a_resend_caught_up_before_its_ack_still_says_delivered(open_chat):
    bob = open_chat("bob")
    alice = open_chat("alice", go=False)
    gate = AckGate(alice.page)
    alice.goto().wait_connected()
    alice.search_and_open(bob)

    # Stored, but its ack never arrives; the socket drops and comes back.
    gate.holding = True
    alice.send("ack held back")
    expect(bob.item(alice).locator(".chat-preview")).to_have_text("ack held back")
    gate.cut()
    expect(alice.page.locator(".chat-status")).not_to_have_attribute("data-state", "connected")
    alice.wait_connected()
    # The resend's ack is held too, so the catch-up after the reconnect is
    # what turns the pending message into a stored one.
    expect(alice.bubble("ack held back", "self")).not_to_have_class(re.compile("chat-pending"))
    gate.wait_held(alice.page)  # the resend's ack may come after the catch-up's answer
    gate.release()
    # The late ack still tells whether Bob has it: he is online.
    expect(alice.bubble("ack held back", "self").locator(".chat-state")).to_have_text("Delivered")
    expect(alice.bubble("ack held back", "self")).to_have_count(1)


def test_problem_2_composer_counts_and_keeps_the_text(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    box = alice.page.locator("#chat-input")
    counter = alice.page.locator(".chat-counter")
    box.fill("a" * 1500)
    expect(counter).to_be_hidden()
    box.fill("a" * 1990)
    expect(counter).to_have_text("10")
    box.fill("\U0001F600" * 2000 + "b")  # counted in code points, as the server does
    expect(counter).to_have_text("-1")
    expect(alice.page.locator(".chat-send")).to_have_attribute("aria-disabled", "true")
    box.press("Enter")
    expect(alice.page.locator(".chat-notice")).to_contain_text("at most 2000 characters")
    expect(box).to_have_value("\U0001F600" * 2000 + "b")
    expect(alice.bubbles()).to_have_count(0)

    # Shortened, it goes; the draft of another conversation survives a reload.
    box.press("End")
    box.press("Backspace")
    expect(counter).to_have_text("0")
    box.press("Enter")
    expect(alice.bubbles("self")).to_have_count(1)
    expect(box).to_have_value("")
    box.fill("half a thought")
    alice.page.reload()
    alice.wait_connected()
    expect(alice.page.locator("#chat-input")).to_have_value("half a thought")


def test_problem_2_a_refused_message_becomes_an_editable_draft(open_chat):
    alice = open_chat("alice")
    alice.page.evaluate("ChatWidget.open(987654)")  # nobody has that id: the server refuses
    alice.send("hello nobody")
    refused = alice.page.locator("li.chat-failed")
    expect(refused.locator(".chat-error")).to_contain_text("Not sent")
    state = refused.locator(".chat-state")
    expect(state).to_have_text(re.compile(r"Not sent: \S.*\S Edit$"))  # a space before the button
    alice.page.reload()
    alice.wait_connected()
    expect(alice.page.locator("li.chat-failed .chat-text")).to_have_text("hello nobody")
    # The reopened conversation's history request is refused too; once it has
    # said so, the draft's own notice is the last word.
    expect(alice.page.locator(".chat-notice")).to_contain_text("no such user")
    alice.page.locator("li.chat-failed [data-edit]").click()
    expect(alice.page.locator("#chat-input")).to_have_value("hello nobody")
    expect(alice.page.locator("li.chat-failed")).to_have_count(0)
    expect(alice.page.locator(".chat-notice")).to_contain_text("Not sent")


def test_problem_3_seen_only_when_seen(open_chat, server):
    alice = open_chat("alice")
    bob = open_chat("bob")
    lines = "\n".join(["line"] * 6)
    send_many(server, bob.session, alice.user["id"], [f"{lines} {i}" for i in range(12)])
    alice.open_with(bob)
    bob.open_with(alice)
    expect(bob.bubble(f"{lines} 11", "self").locator(".chat-state")).to_have_text("Seen")

    alice.page.locator(".chat-content").evaluate("el => { el.scrollTop = 0; }")
    alice.page.wait_for_timeout(300)
    bob.send("new one")
    expect(alice.bubble("new one", "other")).to_have_count(1)
    mine = bob.bubble("new one", "self").locator(".chat-state")
    expect(mine).to_have_text("Delivered")
    alice.page.wait_for_timeout(1500)
    expect(mine).to_have_text("Delivered")  # Alice is reading something else

    jump = alice.page.locator(".chat-jump")
    expect(jump).to_be_visible()
    expect(jump).to_contain_text("1 new")
    expect(alice.bubble("new one").locator(".chat-new-divider")).to_be_visible()
    jump.click()
    expect(mine).to_have_text("Seen")
    expect(jump).to_be_hidden()


def test_problem_4_own_connection_state_on_a_phone(open_chat):
    alice = open_chat("alice", viewport=PHONE)
    bob = open_chat("bob")
    alice.search_and_open(bob)
    state = alice.page.locator(".chat-header-state")
    expect(state).to_have_text("online")
    expect(alice.page.locator(".chat-sidebar")).to_be_hidden()  # the status line went with it
    conn = alice.page.locator(".chat-conn")
    expect(conn).to_be_hidden()

    alice.context.set_offline(True)
    expect(conn).to_be_visible()
    expect(conn).to_contain_text("Reconnecting")
    expect(state).not_to_have_text("online")
    expect(alice.page.locator(".chat-header .chat-dot")).to_be_hidden()

    alice.context.set_offline(False)
    expect(conn).to_be_hidden()
    expect(state).to_have_text("online")


def test_problem_5_presence_of_a_chat_without_messages_stays_true(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    state = alice.page.locator(".chat-header-state")
    expect(state).to_have_text("online")
    bob.page.goto("about:blank")
    expect(state).to_have_text("offline", timeout=20000)
    alice.send("still there?")
    expect(alice.page.locator(".chat-notice")).to_contain_text("is offline")
    expect(state).to_have_text("offline")
    expect(alice.page.locator(".chat-header .chat-dot")).to_be_hidden()


# The conversation list, both kinds (groups come only with ?limit=).
LIST = re.compile(r".*/chat/api/conversations(\?[^/]*)?$")


def test_problem_6_loading_is_not_empty(open_chat, server):
    alice = open_chat("alice", go=False)
    bob = open_chat("bob", go=False)
    send_many(server, bob.session, alice.user["id"], ["are you there", "hello?"])
    held = []
    alice.page.route(LIST, lambda route: held.append(route))
    alice.goto()
    expect(alice.page.locator(".chat-skeleton")).to_be_visible()
    alice.page.wait_for_timeout(500)
    expect(alice.page.locator(".chat-empty")).to_be_hidden()
    for _ in range(50):
        if held:
            break
        alice.page.wait_for_timeout(100)
    assert held
    for route in held:
        route.continue_()
    alice.page.unroute(LIST)
    expect(alice.item(bob)).to_have_count(1)
    expect(alice.page.locator(".chat-skeleton")).to_be_hidden()
    expect(alice.page.locator(".chat-empty")).to_be_hidden()

    # Opening a conversation whose messages are on the way says it is loading.
    held_messages = []
    alice.page.route("**/chat/api/conversations/*/messages*", lambda route: held_messages.append(route))
    alice.item(bob).click()
    expect(alice.page.locator(".chat-conv-loading")).to_be_visible()
    expect(alice.page.locator(".chat-conv-empty")).to_be_hidden()
    for _ in range(50):
        if held_messages:
            break
        alice.page.wait_for_timeout(100)
    for route in held_messages:
        route.continue_()
    alice.page.unroute("**/chat/api/conversations/*/messages*")
    expect(alice.bubble("hello?", "other")).to_have_count(1)
    expect(alice.page.locator(".chat-conv-loading")).to_be_hidden()


def test_problem_11_one_conversations_request_per_load(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("hi")
    expect(bob.item(alice)).to_have_count(1)
    seen = []
    bob.page.on("request", lambda r: LIST.match(r.url) and seen.append(r.url))
    bob.page.reload()
    bob.wait_connected()
    bob.page.wait_for_timeout(3000)
    assert len(seen) == 1, seen
