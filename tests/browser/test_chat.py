"""The widget in a real browser: two users chatting, list, receipts, safety."""
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_two_users_chat_both_ways(open_chat, screenshot):
    bob_session_only = None  # noqa: F841
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
