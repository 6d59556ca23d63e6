"""The widget's connection: long-polling without WebSocket, and a server restart."""
import re

import pytest
from playwright.sync_api import expect

from helpers import NO_WEBSOCKET

pytestmark = pytest.mark.browser


def test_whole_exchange_without_websocket(open_chat):
    old = open_chat("oldbrowser", init_script=NO_WEBSOCKET)
    new = open_chat("newbrowser")
    assert old.page.evaluate("typeof window.WebSocket") == "undefined"
    assert old.transport() == "polling"
    new.page.wait_for_function("() => ChatWidget.socket.io.engine.transport.name === 'websocket'")

    old.search_and_open(new)
    old.send("hello from the past")
    expect(new.item(old).locator(".unread")).to_have_text("1")
    new.open_with(old)
    expect(new.bubble("hello from the past", "other")).to_have_count(1)
    expect(old.bubble("hello from the past", "self").locator(".chat-state")).to_have_text("Seen")

    new.page.locator("#chat-input").type("typing")
    expect(old.page.locator(".chat-typing")).to_contain_text("is typing")
    new.page.locator("#chat-input").press("Enter")
    expect(old.bubble("typing", "other")).to_have_count(1)
    expect(old.item(new).locator(".chat-preview")).to_have_text("typing")

    # Presence over polling: the other side leaves and comes back.
    new.page.goto("about:blank")
    expect(old.page.locator(".chat-header-state")).to_have_text("offline")
    old.send("are you there?")
    expect(old.page.locator(".chat-notice")).to_contain_text("they will see it when they come back")
    new.goto().wait_connected()
    expect(old.page.locator(".chat-header-state")).to_have_text("online")
    expect(new.bubble("are you there?", "other")).to_have_count(1)
    assert old.transport() == "polling"


def test_server_restart_reconnects_and_catches_up(open_chat, server):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    alice.send("before the restart")
    bob.open_with(alice)
    bob.send("me too")
    expect(alice.bubble("me too", "other")).to_have_count(1)

    # Alice stays cut off while the server restarts and Bob writes.
    alice.context.set_offline(True)
    server.restart()
    bob.wait_connected()
    bob.send("after the restart")
    expect(bob.bubble("after the restart", "self").locator(".chat-state")).to_have_text("Sent")
    alice.send("written while cut off")
    expect(alice.bubble("written while cut off", "self")).to_have_class(
        re.compile(r"chat-pending|chat-failed"))
    alice.page.wait_for_timeout(1500)  # time enough to reconnect, were it not cut off
    expect(alice.page.locator(".chat-status")).to_have_attribute("data-state", "reconnecting")
    expect(alice.bubble("after the restart")).to_have_count(0)
    catch_ups = []
    alice.page.on("request", lambda r: "/sync?since=" in r.url and catch_ups.append(r.url))

    alice.context.set_offline(False)
    alice.wait_connected()
    expect(alice.bubble("after the restart", "other")).to_have_count(1)
    assert catch_ups, "the missed message must come from a catch-up request"
    failed = alice.page.locator("li.chat-failed [data-retry]")
    if failed.count():  # the send outlived its timeout: retrying must not duplicate it
        failed.first.click()
    expect(alice.bubble("written while cut off", "self").locator(".chat-state")).to_have_text(
        re.compile("Sent|Delivered|Seen"))
    expect(bob.bubble("written while cut off", "other")).to_have_count(1)
    expect(alice.page.locator(".chat-content ul li")).to_have_count(4)
    expect(bob.page.locator(".chat-content ul li")).to_have_count(4)
    expect(alice.item(bob).locator(".chat-preview")).to_have_text("You: written while cut off")
