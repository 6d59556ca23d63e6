"""Group conversations in the widget (contract v2.0): creating one of three,
chatting, edits, deletes, replies, the member panel, a removed member going
quiet, and every member seeing every message exactly once after the server
restarts while messages are sent."""
import re

import pytest
import socketio
from playwright.sync_api import expect

from helpers import NO_WEBSOCKET, close_client

pytestmark = pytest.mark.browser


def row(chat, gid):
    return chat.page.locator(f'.chat-list li[data-conversation-id="{gid}"]')


def pick(scope, other):
    """Choose ``other`` in a people picker (the new-group form or the member panel)."""
    scope.locator(".chat-picker .chat-field").fill(other.user["username"])
    scope.locator(f'.chat-picker-results li[data-user-id="{other.user["id"]}"]').click()


def create_group(chat, title, *others, first=None):
    """Make a group through the widget's form; send ``first`` in it; its id."""
    chat.page.click(".chat-new-group")
    form = chat.page.locator(".chat-group-form")
    form.locator(".chat-group-title").fill(title)
    for other in others:
        pick(form, other)
    form.locator(".chat-group-create").click()
    if first is not None:
        chat.send(first)
    expect(chat.page.locator(".chat-header-name")).to_have_text(title)
    return int(chat.page.locator(".chat-list li.active").get_attribute("data-conversation-id"))


def shown_ids(chat):
    """The message ids on screen, in order (a doubled one shows twice)."""
    return chat.page.eval_on_selector_all(
        ".chat-content li[data-message-id]", "els => els.map(e => +e.getAttribute('data-message-id'))")


def server_ids(chat, gid):
    r = chat.session.get(f"{chat.server.url}/chat/api/groups/{gid}/messages?limit=100", timeout=5)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["messages"]]


def assert_exactly_once(chat, gid):
    ids = server_ids(chat, gid)
    expect(chat.page.locator(".chat-content li[data-message-id]")).to_have_count(len(ids))
    expect(chat.page.locator(".chat-content ul li:not([data-message-id])")).to_have_count(0)
    assert shown_ids(chat) == ids


def api_socket(chat):
    """Another client of ``chat``'s user: a python-socketio connection."""
    sio = socketio.Client(reconnection=False)
    cookie = "; ".join(f"{k}={v}" for k, v in chat.session.cookies.items())
    sio.connect(chat.server.url, namespaces=["/chat"], headers={"Cookie": cookie}, wait_timeout=5)
    return sio


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_group_of_three_from_creation_to_restart(open_chat, server, transport):
    script = NO_WEBSOCKET if transport == "polling" else None
    alice = open_chat("alice", init_script=script)
    bob = open_chat("bob", init_script=script)
    carol = open_chat("carol", init_script=script)
    if script:
        assert alice.transport() == "polling"
    url = server.url

    # Creation: the form says what is missing, and the server's refusals, in words.
    alice.page.click(".chat-new-group")
    form = alice.page.locator(".chat-group-form")
    error = form.locator(".chat-group-error")
    form.locator(".chat-group-create").click()
    expect(error).to_have_text("Give the group a name.")
    form.locator(".chat-group-title").fill("Trip")
    form.locator(".chat-group-create").click()
    expect(error).to_have_text("Pick at least one person.")
    pick(form, bob)
    pick(form, carol)
    expect(form.locator(".chat-chip")).to_have_count(2)
    form.locator(f'.chat-chip[data-user-id="{carol.user["id"]}"] .chat-chip-remove').click()
    expect(form.locator(".chat-chip")).to_have_count(1)
    pick(form, carol)
    assert carol.session.put(f"{url}/chat/api/blocks/{alice.user['id']}", timeout=5).status_code == 204
    form.locator(".chat-group-create").click()
    expect(error).to_contain_text("blocked")
    assert carol.session.delete(f"{url}/chat/api/blocks/{alice.user['id']}", timeout=5).status_code == 204
    form.locator(".chat-group-create").click()
    expect(form).to_be_hidden()
    expect(alice.page.locator(".chat-header-name")).to_have_text("Trip")
    expect(alice.page.locator(".chat-header-state")).to_have_text("3 members")
    mine = alice.page.locator(".chat-list li.active")
    expect(mine).to_have_attribute("data-conversation-id", re.compile(r"^\d+$"))
    gid = mine.get_attribute("data-conversation-id")
    assert mine.get_attribute("data-user-id") is None
    expect(mine.locator(".chat-avatars .chat-avatar")).to_have_count(2)

    # The others see the new group at once; its rows show the sender and unread count.
    for other in (bob, carol):
        expect(row(other, gid).locator(".chat-name")).to_have_text("Trip")
    alice.send("hello all")
    expect(row(bob, gid).locator(".chat-preview")).to_have_text("alice: hello all")
    expect(row(bob, gid).locator(".unread")).to_have_text("1")
    row(bob, gid).click()
    expect(bob.page.locator(".chat-header-name")).to_have_text("Trip")
    expect(bob.page.locator(".chat-header .chat-avatar.is-online")).to_have_count(0)
    hello = bob.bubble("hello all", "other")
    expect(hello.locator(".chat-sender")).to_have_text("alice")
    bob.send("hi from bob")
    bob.send("more from bob")
    expect(alice.bubble("more from bob", "other")).to_have_count(1)
    # Consecutive messages of one sender name them once.
    expect(alice.page.locator(".chat-content li.chat-other .chat-sender:visible")).to_have_count(1)
    expect(row(carol, gid).locator(".chat-preview")).to_have_text("bob: more from bob")
    expect(row(carol, gid).locator(".unread")).to_have_text("3")
    row(carol, gid).click()
    expect(carol.bubbles()).to_have_count(3)
    expect(row(carol, gid).locator(".unread")).to_have_text("")

    # Typing, edit, reply and delete reach every member.
    carol.page.locator("#chat-input").fill("thinking")
    expect(alice.page.locator(".chat-typing")).to_have_text("carol is typing\u2026")
    carol.page.locator("#chat-input").fill("")
    box = bob.page.locator("#chat-input")
    box.press("ArrowUp")
    expect(box).to_have_value("more from bob")
    box.fill("more from bob, edited")
    box.press("Enter")
    for chat in (alice, carol):
        edited = chat.page.locator(".chat-content li.chat-other", has=chat.page.locator(".chat-edited"))
        expect(edited.locator(".chat-text")).to_have_text("more from bob, edited (edited)")
    target = carol.bubble("hi from bob", "other")
    target.hover()
    target.locator(".chat-reply-button").click()
    carol.send("re: hi")
    answer = alice.page.locator(".chat-content li.chat-other", has=alice.page.locator(".chat-reply"))
    expect(answer.locator(".chat-text")).to_contain_text("re: hi")
    quote = answer.locator(".chat-reply")
    expect(quote).to_contain_text("bob")
    expect(quote).to_contain_text("hi from bob")
    alice.page.once("dialog", lambda d: d.accept())
    own = alice.bubble("hello all", "self")
    own.hover()
    own.locator(".chat-delete").click()
    for chat in (bob, carol):
        expect(chat.page.locator(".chat-content .chat-deleted")).to_have_count(1)

    # The member panel: owner mark, rename, remove.
    alice.page.click(".chat-members-button")
    panel = alice.page.locator(".chat-members")
    expect(panel.locator(".chat-member")).to_have_count(3)
    expect(panel.locator(f'.chat-member[data-user-id="{alice.user["id"]}"] .chat-owner')).to_have_count(1)
    panel.locator(".chat-rename .chat-field").fill("Trip 2026")
    panel.locator(".chat-rename button").click()
    expect(bob.page.locator(".chat-header-name")).to_have_text("Trip 2026")
    expect(row(carol, gid).locator(".chat-name")).to_have_text("Trip 2026")
    bob.page.click(".chat-members-button")
    expect(bob.page.locator(".chat-members .chat-remove")).to_have_count(0)  # not the owner
    expect(bob.page.locator(".chat-members .chat-rename")).to_be_hidden()
    bob.page.click(".chat-members-button")
    panel.locator(f'.chat-member[data-user-id="{carol.user["id"]}"] .chat-remove').click()
    expect(panel.locator(".chat-member")).to_have_count(2)
    expect(carol.page.locator(".chat-notice")).to_have_text("You are no longer a member of this group.")
    expect(carol.page.locator("#chat-input")).to_be_disabled()
    expect(row(carol, gid)).to_have_count(0)
    seen_by_carol = carol.bubbles().count()
    alice.send("after carol left")
    expect(bob.bubble("after carol left", "other")).to_have_count(1)
    carol.page.wait_for_timeout(500)
    expect(carol.bubbles()).to_have_count(seen_by_carol)

    # Added again, she reads the whole history.
    pick(panel, carol)
    panel.locator(".chat-add-members button[type=submit]").click()
    expect(panel.locator(".chat-member")).to_have_count(3)
    row(carol, gid).click()
    expect(carol.bubble("after carol left", "other")).to_have_count(1)
    expect(carol.page.locator("#chat-input")).to_be_enabled()

    # Bob is cut off while the server restarts; messages come from everywhere meanwhile.
    for chat in (alice, bob, carol):  # the catch-up cursor is in each cache
        chat.page.wait_for_function("() => Object.keys(sessionStorage).some(k => k.endsWith(':rev'))")
    bob.context.set_offline(True)
    server.restart()
    alice.wait_connected()
    carol.wait_connected()
    bob.send("bob while cut off")
    sio = api_socket(alice)
    try:
        ack = sio.call("chat-to", {"conversation": int(gid), "content": "api one"},
                       namespace="/chat", timeout=5)
        assert ack["ok"], ack
    finally:
        close_client(sio)
    alice.send("widget two")
    carol.send("carol three")
    expect(alice.bubble("carol three", "other")).to_have_count(1)
    r = alice.session.patch(f"{url}/chat/api/messages/{ack['message']['id']}",
                            json={"content": "api one, edited"}, timeout=5)
    assert r.status_code == 200, r.text
    reply_id = answer.get_attribute("data-message-id")
    assert carol.session.delete(f"{url}/chat/api/messages/{reply_id}", timeout=5).status_code == 204

    bob.context.set_offline(False)
    bob.wait_connected()
    api_id = ack["message"]["id"]
    api_one = bob.page.locator(f'.chat-content li[data-message-id="{api_id}"]')
    expect(api_one.locator(".chat-text")).to_have_text("api one, edited (edited)")
    expect(bob.bubble("bob while cut off", "self").locator(".chat-state")).to_have_text(
        re.compile("Sent|Delivered|Seen"))
    for chat in (alice, bob, carol):
        expect(chat.page.locator(f'.chat-content li[data-message-id="{reply_id}"] .chat-deleted')) \
            .to_have_count(1)
        assert_exactly_once(chat, gid)

    # From the cache and the stored rev after a reload: still each once.
    bob.page.reload()
    bob.wait_connected()
    row(bob, gid).click()
    assert_exactly_once(bob, gid)

    # Leaving asks first.
    carol.page.click(".chat-members-button")
    carol.page.once("dialog", lambda d: d.dismiss())
    carol.page.click(".chat-leave")
    expect(row(carol, gid)).to_have_count(1)
    carol.page.once("dialog", lambda d: d.accept())
    carol.page.click(".chat-leave")
    expect(row(carol, gid)).to_have_count(0)
    expect(panel.locator(".chat-member")).to_have_count(2)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_group_form_member_panel_and_open_by_id(open_chat, scheme):
    from .test_a11y import serious
    alice = open_chat("alice", viewport={"width": 390, "height": 760})
    bob = open_chat("bob")
    alice.page.emulate_media(color_scheme=scheme)
    alice.page.click(".chat-new-group")
    form = alice.page.locator(".chat-group-form")
    form.locator(".chat-group-title").fill("Lunch")
    pick(form, bob)
    form.locator(".chat-picker .chat-field").fill("nobody-here")
    expect(form.locator(".chat-picker-results .chat-search-none")).to_be_visible()
    assert serious(alice.page) == []
    form.locator(".chat-group-create").click()
    alice.send("soup?")
    gid = alice.page.locator(".chat-list li.active").get_attribute("data-conversation-id")
    bob.page.evaluate("id => ChatWidget.openConversation(id)", int(gid))  # a host's link to the group
    expect(bob.page.locator(".chat-header-name")).to_have_text("Lunch")
    expect(bob.bubble("soup?", "other")).to_have_count(1)
    alice.page.click(".chat-members-button")
    expect(alice.page.locator(".chat-members .chat-member")).to_have_count(2)
    assert serious(alice.page) == []


def test_owner_deletes_anyones_message_members_only_their_own(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    gid = create_group(alice, "Club", bob, first="welcome")
    bob.page.evaluate("id => ChatWidget.openConversation(id)", gid)
    bob.send("spam!")
    expect(alice.bubble("spam!", "other")).to_have_count(1)
    # A member deletes only their own; the owner anyone's.
    bob.bubble("welcome", "other").hover()
    expect(bob.bubble("welcome", "other").locator(".chat-delete")).to_be_hidden()
    theirs = alice.bubble("spam!", "other")
    theirs.hover()
    alice.page.once("dialog", lambda d: d.accept())
    theirs.locator(".chat-delete").click()
    for chat in (alice, bob):
        expect(chat.page.locator(".chat-content li .chat-deleted")).to_have_count(1)
    assert [m["deleted"] for m in bob.session.get(
        f"{bob.server.url}/chat/api/groups/{gid}/messages", timeout=5).json()["messages"]] == [False, True]


def test_no_group_controls_when_groups_are_off(browser, tmp_path):
    from .conftest import ChatPage, RestartableServer
    server = RestartableServer(tmp_path, env={"FLASK_CHAT_GROUPS": "false"}).start()
    try:
        dan = ChatPage(browser, server, "dan").goto().wait_connected()
        expect(dan.page.locator(".chat-search-input")).to_be_visible()
        expect(dan.page.locator(".chat-new-group")).to_have_count(0)
        dan.context.close()
    finally:
        server.stop()


def test_a_deleted_account_goes_from_every_screen_at_once(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    carol = open_chat("carol")
    gid = create_group(alice, "Club", bob, carol, first="in the group")
    alice.search_and_open(bob)
    alice.send("just us")
    expect(bob.item(alice)).to_have_count(1)
    bob.open_with(alice)
    expect(bob.bubble("just us", "other")).to_have_count(1)
    carol.page.evaluate("id => ChatWidget.openConversation(id)", gid)
    expect(carol.bubble("in the group", "other")).to_have_count(1)

    r = alice.session.delete(alice.server.url + "/auth/account", json={}, timeout=5)
    assert r.status_code == 204, r.text

    # Bob's open direct conversation: gone from the list, read-only, says why.
    expect(bob.item(alice)).to_have_count(0)
    expect(bob.page.locator(".chat-notice")).to_have_text("This account no longer exists.")
    expect(bob.page.locator("#chat-input")).to_be_disabled()
    # Carol's open group: the message is a tombstone, without a reload.
    expect(carol.page.locator(".chat-content li .chat-deleted")).to_have_count(1)
    expect(carol.bubble("in the group")).to_have_count(0)
    # Bob's group, not open: deleted there too, and still after a reload.
    for reload in (False, True):
        if reload:
            bob.page.reload()
            bob.wait_connected()
        expect(bob.item(alice)).to_have_count(0)
        bob.page.evaluate("id => ChatWidget.openConversation(id)", gid)
        expect(bob.page.locator(".chat-content li .chat-deleted")).to_have_count(1)
        expect(bob.bubble("in the group")).to_have_count(0)


ONLINE = re.compile(r"\bonline\b")
DOT = re.compile(r"\bis-online\b")


def test_member_panel_follows_presence(open_chat):
    """The open member panel shows who is online and follows `presence` at once."""
    alice = open_chat("alice")
    bob = open_chat("bob")
    carol = open_chat("carol", go=False)  # not on the page yet
    create_group(alice, "Desk", bob, carol)
    expect(alice.page.locator(".chat-header-name")).to_have_text("Desk")
    alice.page.click(".chat-members-button")
    panel = alice.page.locator(".chat-members")

    def member(chat):
        return panel.locator(f'.chat-member[data-user-id="{chat.user["id"]}"]')

    expect(member(bob)).to_have_class(ONLINE)
    expect(member(bob).locator(".chat-avatar")).to_have_class(DOT)
    expect(member(bob).locator(".chat-sr-only")).to_have_text("online")
    expect(member(carol)).not_to_have_class(ONLINE)
    expect(member(carol).locator(".chat-sr-only")).to_have_text("offline")
    expect(member(alice).locator(".chat-avatar")).not_to_have_class(DOT)  # not one's own

    carol.goto().wait_connected()  # comes online: the open panel says so
    expect(member(carol)).to_have_class(ONLINE)
    expect(member(carol).locator(".chat-avatar")).to_have_class(DOT)
    expect(member(carol).locator(".chat-sr-only")).to_have_text("online")
    bob.page.close()  # goes offline
    expect(member(bob)).not_to_have_class(ONLINE)
    expect(member(bob).locator(".chat-avatar")).not_to_have_class(DOT)
    expect(member(bob).locator(".chat-sr-only")).to_have_text("offline")
    expect(member(carol)).to_have_class(ONLINE)


def test_former_members_are_named_in_old_messages_and_quotes(open_chat, server):
    """Members who left or were removed before this widget loaded anything
    still have their names on their messages and in quotes of them."""
    alice, bob, carol, dave = (open_chat(n, go=False) for n in ("alice", "bob", "carol", "dave"))
    url = server.url
    r = alice.session.post(f"{url}/chat/api/groups", timeout=5, json={
        "title": "Old times", "members": [x.user["id"] for x in (bob, carol, dave)]})
    assert r.status_code == 201, r.text
    gid = r.json()["conversation"]["id"]

    def say(chat, content, **extra):
        sio = api_socket(chat)
        try:
            ack = sio.call("chat-to", {"conversation": gid, "content": content, **extra},
                           namespace="/chat", timeout=5)
        finally:
            close_client(sio)
        assert ack["ok"], ack
        return ack["message"]["id"]

    carols = say(carol, "carol was here")
    daves = say(dave, "dave too")
    bobs = say(bob, "so long, carol", reply_to=carols)
    assert carol.session.delete(f"{url}/chat/api/groups/{gid}/members/{carol.user['id']}",
                                timeout=5).status_code == 204  # left
    assert alice.session.delete(f"{url}/chat/api/groups/{gid}/members/{dave.user['id']}",
                                timeout=5).status_code == 204  # removed

    alice.goto().wait_connected()
    alice.page.evaluate("id => ChatWidget.openConversation(id)", gid)
    shown = alice.page.locator(".chat-content li[data-message-id]")
    expect(shown).to_have_count(3)

    def message(mid):
        return alice.page.locator(f'.chat-content li[data-message-id="{mid}"]')

    expect(message(carols).locator(".chat-sender-name")).to_have_text("carol")
    expect(message(daves).locator(".chat-sender-name")).to_have_text("dave")
    expect(message(bobs).locator(".chat-sender-name")).to_have_text("bob")
    expect(message(bobs).locator(".chat-reply-name")).to_have_text("carol")
    expect(message(carols).locator(".chat-sender img")).to_have_attribute(
        "src", f"/chat/avatar/{carol.user['id']}.svg")
    expect(alice.page.locator(".chat-content ul")).not_to_contain_text("\u2026")
