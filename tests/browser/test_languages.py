"""English and Simplified Chinese in a real browser: the standalone pages, the
switcher, a Chinese name, and the widget's words, plurals and times."""
import pytest
from playwright.sync_api import expect

from .conftest import TIMEOUT_MS

pytestmark = pytest.mark.browser
PASSWORD = "password123"


@pytest.fixture
def visitor(browser, server):
    """A browser context with no login, English by default."""
    context = browser.new_context(viewport={"width": 1100, "height": 720}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    errors = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors


def test_switch_language_and_register_as_zhang_wei(visitor, server, screenshot):
    page = visitor
    page.goto(server.url + "/register")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Create account")
    # the rule is beside the field before anything is submitted
    expect(page.locator("#hint-username")).to_contain_text("1 to 32 letters or digits in any script")
    screenshot(page, "register-en")

    page.get_by_role("button", name="简体中文").click()
    expect(page).to_have_url(server.url + "/register")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_have_text("注册账号")
    expect(page.locator("#hint-username")).to_contain_text("1 到 32 个任意文字的字母或数字")
    expect(page.get_by_role("button", name="简体中文")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "register-zh")

    # a refused name: the error in Chinese, the form kept
    page.get_by_label("名字").fill("张 伟")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="注册账号").click()
    expect(page.locator(".chat-auth-error")).to_contain_text("不能有空格")

    page.get_by_label("名字").fill("张伟")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="注册账号").click()
    expect(page).to_have_url(server.url + "/")
    me = page.request.get(server.url + "/chat/api/me").json()
    assert me["user"]["username"] == "张伟" and me["locale"] == "zh-Hans"


def test_browser_language_picks_chinese(browser, server, screenshot):
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(server.url + "/login")
        expect(page.locator("h1")).to_have_text("登录")
        expect(page.get_by_role("link", name="注册一个账号")).to_be_visible()
        screenshot(page, "login-zh")
        page.get_by_role("button", name="English").click()
        expect(page.locator("h1")).to_have_text("Log in")
    finally:
        context.close()
