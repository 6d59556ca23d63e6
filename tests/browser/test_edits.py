"""Contract v2.0 in the widget: edit (up-arrow), delete with confirmation, the
marks and DOM hooks, and edits made elsewhere arriving live."""
import pytest
from playwright.sync_api import expect

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
    message_id = mine.get_attribute("data-message-id")
    assert message_id and message_id.isdigit()
    expect(theirs).to_have_attribute("data-message-id", message_id)
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
    edited = bob.page.locator(f'.chat-content li[data-message-id="{message_id}"]')
    expect(edited.locator(".chat-text")).to_contain_text("typo here")
    expect(edited.locator(".chat-edited")).to_have_count(1)
    expect(alice.page.locator(f'.chat-content li[data-message-id="{message_id}"] .chat-edited')) \
        .to_have_count(1)
    expect(bob.bubble("first words", "other").locator(".chat-edited")).to_have_count(0)

    # Escape leaves an edit without changing anything.
    box.press("ArrowUp")
    expect(box).to_have_value("typo here")
    box.press("Escape")
    expect(box).to_have_value("")

    # Delete asks first: dismissed, nothing happens; accepted, a tombstone on both sides.
    target = alice.page.locator(f'.chat-content li[data-message-id="{message_id}"]')
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
    expect(bob.page.locator(f'.chat-content li[data-message-id="{message_id}"] .chat-deleted')) \
        .to_have_count(1)

    # An edit made over HTTP (another device) reaches the open conversation live.
    first = alice.bubble("first words", "self").get_attribute("data-message-id")
    r = alice.session.patch(f"{server.url}/chat/api/messages/{first}",
                            json={"content": "first words, revised"}, timeout=5)
    assert r.status_code == 200, r.text
    live = bob.page.locator(f'.chat-content li[data-message-id="{first}"]')
    expect(live.locator(".chat-text")).to_contain_text("first words, revised")
    expect(live.locator(".chat-edited")).to_have_count(1)
