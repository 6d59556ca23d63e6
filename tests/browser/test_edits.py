"""Contract v2.0 in the widget: edit (up-arrow), delete with confirmation, the
marks and DOM hooks, and edits made elsewhere arriving live."""
import re

import pytest
from playwright.sync_api import expect

from .test_chat import send_many

ANY_ID = re.compile(r"^\d+$")


def message_id(bubble):
    """The stored id of a bubble, once the server has acknowledged it."""
    expect(bubble).to_have_attribute("data-message-id", ANY_ID)
    return bubble.get_attribute("data-message-id")

pytestmark = pytest.mark.browser


def test_edit_with_up_arrow_and_delete_with_confirmation(open_chat, server):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("first words")
    alice.send("tpyo here")
    bob.open_with(alice)
    theirs = bob.bubble("tpyo here", "other")
    expect(theirs).to_have_count(1)
    mine = alice.bubble("tpyo here", "self")
    mid = message_id(mine)
    expect(theirs).to_have_attribute("data-message-id", mid)
    conv = alice.item(bob)
    expect(conv).to_have_attribute("data-conversation-id", mine.evaluate(
        "li => String(ChatWidget.conversation(li.closest('[data-conv]')"
        ".getAttribute('data-conv')).last.conversation)"))

    # Up-arrow in the empty box takes the last own message; Enter saves it.
    box = alice.page.locator("#chat-input")
    box.click()
    box.press("ArrowUp")
    expect(box).to_have_value("tpyo here")
    box.fill("typo here")
    box.press("Enter")
    expect(box).to_have_value("")
    edited = bob.page.locator(f'.chat-content li[data-message-id="{mid}"]')
    expect(edited.locator(".chat-text")).to_contain_text("typo here")
    expect(edited.locator(".chat-edited")).to_have_count(1)
    expect(alice.page.locator(f'.chat-content li[data-message-id="{mid}"] .chat-edited')) \
        .to_have_count(1)
    expect(bob.bubble("first words", "other").locator(".chat-edited")).to_have_count(0)

    # Escape leaves an edit without changing anything.
    box.press("ArrowUp")
    expect(box).to_have_value("typo here")
    box.press("Escape")
    expect(box).to_have_value("")

    # Delete asks first: dismissed, nothing happens; accepted, a tombstone on both sides.
    target = alice.page.locator(f'.chat-content li[data-message-id="{mid}"]')
    alice.page.once("dialog", lambda d: d.dismiss())
    target.hover()
    target.locator(".chat-delete").click()
    expect(edited.locator(".chat-deleted")).to_have_count(0)
    alice.page.once("dialog", lambda d: d.accept())
    target.hover()
    target.locator(".chat-delete").click()
    expect(edited.locator(".chat-deleted")).to_have_text("Message deleted")
    expect(target.locator(".chat-deleted")).to_have_count(1)
    expect(edited.locator(".chat-text")).not_to_contain_text("typo")

    # After a reload the tombstone and the edit mark come back from the server.
    bob.page.reload()
    bob.wait_connected()
    bob.open_with(alice)
    expect(bob.page.locator(f'.chat-content li[data-message-id="{mid}"] .chat-deleted')) \
        .to_have_count(1)

    # An edit made over HTTP (another device) reaches the open conversation live.
    first = message_id(alice.bubble("first words", "self"))
    r = alice.session.patch(f"{server.url}/chat/api/messages/{first}",
                            json={"content": "first words, revised"}, timeout=5)
    assert r.status_code == 200, r.text
    live = bob.page.locator(f'.chat-content li[data-message-id="{first}"]')
    expect(live.locator(".chat-text")).to_contain_text("first words, revised")
    expect(live.locator(".chat-edited")).to_have_count(1)


def test_edits_and_deletes_missed_offline_are_caught_up_once(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    for text in ("one", "two", "three"):
        alice.send(text)
    bob.open_with(alice)
    expect(bob.bubbles()).to_have_count(3)
    ids = [message_id(alice.bubble(t, "self")) for t in ("one", "two")]
    expect(bob.page.locator(".chat-status")).to_have_attribute("data-state", "connected")
    bob.page.wait_for_function("() => typeof JSON.parse(sessionStorage.getItem("
                               "Object.keys(sessionStorage).filter(k => k.endsWith(':rev'))[0]"
                               " || 'null')) === 'number'")

    # Bob's network goes away; Alice edits one message, deletes another, writes a new one.
    bob.context.set_offline(True)
    expect(bob.page.locator(".chat-status")).not_to_have_attribute("data-state", "connected")
    box = alice.page.locator("#chat-input")
    alice.page.once("dialog", lambda d: d.accept())
    one = alice.page.locator(f'.chat-content li[data-message-id="{ids[0]}"]')
    one.hover()
    one.locator(".chat-delete").click()
    expect(one.locator(".chat-deleted")).to_have_count(1)
    box.click()
    box.press("ArrowUp")  # the last own message not deleted: "three"
    expect(box).to_have_value("three")
    box.press("Escape")
    r = alice.session.patch(f"{alice.server.url}/chat/api/messages/{ids[1]}",
                            json={"content": "two, corrected"}, timeout=5)
    assert r.status_code == 200, r.text
    alice.send("four")

    # Back online: everything arrives, once.
    bob.context.set_offline(False)
    bob.wait_connected()
    expect(bob.bubble("four", "other")).to_have_count(1)
    expect(bob.page.locator(f'.chat-content li[data-message-id="{ids[0]}"] .chat-deleted')) \
        .to_have_count(1)
    two = bob.page.locator(f'.chat-content li[data-message-id="{ids[1]}"]')
    expect(two.locator(".chat-text")).to_contain_text("two, corrected")
    expect(two.locator(".chat-edited")).to_have_count(1)
    expect(bob.bubbles()).to_have_count(4)


def test_reply_quotes_and_scrolls_to_the_original(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("the question")
    for n in range(25):
        alice.send(f"filler {n}")
    bob.open_with(alice)
    expect(bob.bubbles()).to_have_count(26)
    original = bob.bubble("the question", "other")
    original_id = message_id(original)

    # Bob replies to the first message: a preview above the box, then a quote.
    original.hover()
    original.locator(".chat-reply-button").click()
    expect(bob.page.locator(".chat-reply-draft")).to_contain_text("the question")
    bob.send("the answer")
    expect(bob.page.locator(".chat-reply-draft")).to_be_hidden()
    expect(bob.page.locator(".chat-content li.chat-failed")).to_have_count(0)
    for page in (bob, alice):
        answer = page.page.locator(".chat-content li").filter(has_text="the answer")
        expect(answer.locator(".chat-reply")).to_contain_text("the question")
        expect(answer.locator(".chat-reply")).to_have_attribute("data-quote", original_id)
    # The quote scrolls to the original.
    first = alice.page.locator(f'.chat-content li[data-message-id="{original_id}"]')
    alice.page.locator(".chat-content li").filter(has_text="the answer") \
        .locator(".chat-reply").click()
    expect(first).to_be_in_viewport()

    # Escape drops a reply in progress; a deleted original turns the quote into a tombstone.
    last = bob.bubble("filler 24", "other")
    last.hover()
    last.locator(".chat-reply-button").click()
    expect(bob.page.locator(".chat-reply-draft")).to_be_visible()
    bob.page.locator("#chat-input").press("Escape")
    expect(bob.page.locator(".chat-reply-draft")).to_be_hidden()
    alice.page.once("dialog", lambda d: d.accept())
    first.hover()
    first.locator(".chat-delete").click()
    bob.page.reload()
    bob.wait_connected()
    bob.open_with(alice)
    quote = bob.page.locator(".chat-content li").filter(has_text="the answer").locator(".chat-reply")
    expect(quote).to_contain_text("Message deleted")


def test_a_quote_of_a_message_pages_back_opens_it_and_back_to_the_newest(open_chat, server):
    """An original far above the loaded pages: the quote opens the page around
    it; the ↓ button and sending both return to the newest page."""
    alice = server.register("alice")
    bob = open_chat("bob", go=False)
    fillers = [f"filler {n}" for n in range(80)]
    send_many(server, alice, bob.user["id"], ["the question"] + fillers)
    page = bob.session.get(f"{server.url}/chat/api/conversations/{alice.user['id']}/messages",
                           params={"limit": 100}, timeout=10).json()["messages"]
    question = next(m for m in page if m["content"] == "the question")
    bob.goto().wait_connected()
    bob.page.evaluate("a => ChatWidget.openConversation(a[0], a[1])",
                      [question["conversation"], question["id"]])
    original = bob.page.locator(f'.chat-content li[data-message-id="{question["id"]}"]')
    expect(original).to_be_in_viewport()
    assert "filler 79" not in texts(bob)

    # A reply written there is sent below the newest message, not below the old page.
    original.hover()
    original.locator(".chat-reply-button").click()
    bob.send("the answer")
    answer = bob.page.locator(".chat-content li.chat-self").filter(has_text="the answer")
    expect(answer.locator(".chat-reply")).to_have_attribute("data-quote", str(question["id"]))
    expect(answer).to_have_attribute("data-message-id", ANY_ID)
    shown = texts(bob)
    assert shown[-1].endswith("the answer") and "the question" not in shown  # (quoted, not shown)
    assert shown[:-1] == fillers[-len(shown) + 1:]  # the newest page, no gap

    # After a reload only the newest page is loaded; the quote still reaches the original.
    bob.page.reload()
    bob.wait_connected()
    bob.open_with(alice)
    expect(answer).to_have_count(1)
    assert "the question" not in texts(bob)
    answer.locator(".chat-reply").click()
    expect(original).to_be_in_viewport()
    expect(original).to_have_class(re.compile(r"\bis-highlighted\b"))
    # ↓ goes back to the newest page.
    bob.page.locator(".chat-jump").click()
    expect(bob.bubbles().last.locator(".chat-text")).to_contain_text("the answer")
    shown = texts(bob)
    assert "the question" not in shown and shown[0] == "filler 51"

    # A message just above the newest page: its page joins that one, without a gap.
    filler = next(m for m in page if m["content"] == "filler 40")
    bob.page.evaluate("a => ChatWidget.openConversation(a[0], a[1])",
                      [filler["conversation"], filler["id"]])
    expect(bob.bubbles().first.locator(".chat-text")).to_have_text("filler 26")
    shown = texts(bob)
    assert shown[:-1] == fillers[26:] and shown[-1].endswith("the answer")
    state = "ChatWidget.conversation(%s)" % alice.user["id"]
    assert bob.page.evaluate(f"[{state}.hasNewer, {state}.hasMore]") == [False, True]


def texts(chat):
    return chat.page.locator(".chat-content li[data-message-id] .chat-text").all_text_contents()


def test_open_conversation_by_id(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("hello")
    expect(bob.item(alice)).to_have_count(1)  # stored, and on the list of the other side
    script = "(ChatWidget.conversation(%s) || {}).last" % bob.user["id"]
    alice.page.wait_for_function(f"() => {script} && {script}.conversation")
    cid = alice.page.evaluate(f"String({script}.conversation)")
    expect(bob.item(alice)).to_have_attribute("data-conversation-id", cid)
    bob.page.evaluate("ChatWidget.openConversation(%s)" % cid)
    expect(bob.page.locator(".chat-header")).to_contain_text("alice")
    expect(bob.bubble("hello", "other")).to_have_count(1)


def test_block_and_unblock_from_the_conversation(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("hi")
    bob.open_with(alice)
    expect(bob.bubble("hi", "other")).to_have_count(1)
    expect(bob.page.locator(".chat-header-state")).to_have_text("online")

    block = alice.page.locator(".chat-block")
    expect(block).to_have_text("Block")
    alice.page.once("dialog", lambda d: d.accept())
    block.click()
    expect(block).to_have_text("Unblock")
    expect(block).to_have_attribute("aria-pressed", "true")
    # The blocked user sees the blocker offline, and neither can write.
    expect(bob.page.locator(".chat-header-state")).to_have_text("offline")
    bob.send("are you there?")
    expect(bob.page.locator(".chat-content li.chat-failed .chat-error")).to_contain_text("blocked")
    alice.send("not this either")
    expect(alice.page.locator(".chat-content li.chat-failed")).to_have_count(1)
    assert alice.session.get(f"{alice.server.url}/chat/api/blocks", timeout=5).json()[
        "users"][0]["id"] == bob.user["id"]

    # After a reload the button still knows; unblocking lets messages through again.
    alice.page.reload()
    alice.wait_connected()
    alice.open_with(bob)
    expect(block).to_have_text("Unblock")
    block.click()
    expect(block).to_have_text("Block")
    expect(bob.page.locator(".chat-header-state")).to_have_text("online")
    alice.send("friends again")
    expect(bob.bubble("friends again", "other")).to_have_count(1)
