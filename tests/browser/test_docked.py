"""The docked widget on a host site: the example forum, run for real."""
import pytest
from playwright.sync_api import expect

from test_example_site import Forum

from helpers import TIMEOUT_MS

pytestmark = pytest.mark.browser


@pytest.fixture
def forum(tmp_path):
    site = Forum(tmp_path)
    yield site
    site.stop()


def member_page(browser, forum, handle, name, contexts):
    session = forum.join(handle, name)
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    context.add_cookies([{"name": k, "value": v, "url": forum.url}
                         for k, v in session.cookies.items()])
    page = context.new_page()
    page.member = session.member
    return page


def test_docked_widget_on_a_host_page(browser, forum, screenshot):
    contexts = []
    try:
        ann = member_page(browser, forum, "ann", "Ann Lee", contexts)
        ben = member_page(browser, forum, "ben", "Ben Ng", contexts)
        for page in (ben, ann):
            page.goto(forum.url + "/")
            expect(page.locator(".chat-status")).to_have_attribute("data-state", "connected")
            expect(page.locator(".chat-panel")).to_be_hidden()

        # A host link opens the panel on that member's conversation (string ids).
        ann.click(f'a[data-chat-with="{ben.member["id"]}"]')
        expect(ann.locator(".chat-panel")).to_be_visible()
        expect(ann.locator(".chat-header")).to_contain_text("Ben Ng")
        ann.locator("#chat-input").fill("Saw your post <b>here</b>")
        ann.locator("#chat-input").press("Enter")
        expect(ann.locator("li.chat-self .chat-text")).to_have_text("Saw your post <b>here</b>")

        # Ben's launcher counts it; the panel lists it; opening clears it.
        expect(ben.locator(".chat-launcher-badge")).to_have_text("1")
        ben.click(".chat-launcher")
        item = ben.locator(f'.chat-list li[data-user-id="{ann.member["id"]}"]')
        expect(item.locator(".unread")).to_have_text("1")
        item.click()
        expect(ben.locator("li.chat-other .chat-text")).to_have_text("Saw your post <b>here</b>")
        expect(ben.locator(".chat-launcher-badge")).to_have_text("")
        ben.locator("#chat-input").fill("Thanks!")
        ben.locator("#chat-input").press("Enter")
        expect(ann.locator("li.chat-other .chat-text")).to_have_text("Thanks!")
        screenshot(ann, "ann-docked")

        # Escape closes the panel; the host's own logout calls ChatWidget.logout().
        ann.locator("#chat-input").press("Escape")
        expect(ann.locator(".chat-panel")).to_be_hidden()
        assert ann.evaluate("Object.keys(sessionStorage).some(function (k) {"
                            " return k.indexOf('chat:') === 0; })")
        ann.click("nav button[type=submit]")
        ann.wait_for_load_state()
        assert ann.evaluate("Object.keys(sessionStorage).filter(function (k) {"
                            " return k.indexOf('chat:') === 0; })") == []
    finally:
        for context in contexts:
            context.close()
