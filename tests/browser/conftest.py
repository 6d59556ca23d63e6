"""Browser fixtures: Debian's Chromium, driven by Playwright, against the real
eventlet server (``python wsgi.py``) started in a subprocess per test."""
import re

import pytest
from playwright.sync_api import expect

from helpers import ROOT, TIMEOUT_MS, LiveServer

ARTIFACTS = ROOT / "test-artifacts"

expect.set_options(timeout=TIMEOUT_MS)


class RestartableServer(LiveServer):
    """A live server that can stop and come back on the same port and data."""

    def restart(self):
        self.stop()
        return self.start()


@pytest.fixture
def server(tmp_path):
    s = RestartableServer(tmp_path).start()
    yield s
    s.stop()


class ChatPage:
    """One user in a browser context of their own, on the chat page."""

    def __init__(self, browser, server, name, init_script=None, viewport=None):
        self.server = server
        self.session = server.register(name)
        self.user = self.session.user
        self.context = browser.new_context(viewport=viewport or {"width": 1100, "height": 720})
        self.context.set_default_timeout(TIMEOUT_MS)
        if init_script:
            self.context.add_init_script(init_script)
        self.context.add_cookies([{"name": k, "value": v, "url": server.url}
                                  for k, v in self.session.cookies.items()])
        self.errors = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def goto(self, path="/"):
        self.page.goto(self.server.url + path)
        return self

    def wait_connected(self):
        expect(self.page.locator(".chat-status")).to_have_attribute("data-state", "connected")
        return self

    def item(self, other):
        """The chat list entry of the conversation with ``other``."""
        return self.page.locator(f'.chat-list li[data-user-id="{other.user["id"]}"]')

    def open_with(self, other):
        self.item(other).click()
        expect(self.page.locator(".chat-header")).to_contain_text(other.user["username"])
        return self

    def search_and_open(self, other):
        self.page.fill(".chat-search-input", other.user["username"])
        self.page.locator(f'.chat-search-results li[data-user-id="{other.user["id"]}"]').click()
        expect(self.page.locator(".chat-header")).to_contain_text(other.user["username"])
        return self

    def send(self, text):
        box = self.page.locator("#chat-input")
        box.fill(text)
        box.press("Enter")
        return self

    def bubbles(self, side=None):
        sel = ".chat-content ul li" + (f".chat-{side}" if side else "")
        return self.page.locator(sel)

    def bubble(self, text, side=None):
        sel = ".chat-content ul li" + (f".chat-{side}" if side else "")
        return self.page.locator(sel).filter(
            has=self.page.locator(".chat-text", has_text=re.compile("^" + re.escape(text) + "$")))

    def cache_keys(self):
        return self.page.evaluate(
            "Object.keys(sessionStorage).filter(function (k) { return k.indexOf('chat:') === 0; })")

    def transport(self):
        return self.page.evaluate("ChatWidget.socket.io.engine.transport.name")


@pytest.fixture
def open_chat(browser, server, request):
    """``open_chat(name, init_script=None)``: a logged-in user on the chat page."""
    pages = []

    def make(name, init_script=None, viewport=None, go=True):
        chat = ChatPage(browser, server, name, init_script, viewport)
        pages.append(chat)
        if go:
            chat.goto().wait_connected()
        return chat

    yield make
    try:
        for chat in pages:
            if not chat.page.is_closed():
                shot(request, chat.page, chat.user["username"] + "-end")
            assert not chat.errors, f"script errors in {chat.user['username']}'s page: {chat.errors}"
    finally:
        for chat in pages:
            chat.context.close()


def shot(request, page, label):
    """Save a screenshot of the run under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{request.node.name}-{label}")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
def screenshot(request):
    return lambda page, label: shot(request, page, label)

