"""English and Simplified Chinese in a real browser: the standalone pages, the
switcher, a Chinese name, and the widget's words, plurals and times."""
import re

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


def in_chinese(chat):
    chat.context.add_cookies([{"name": "chat_lang", "value": "zh-Hans", "url": chat.server.url}])
    return chat.goto().wait_connected()


def test_chat_in_chinese_beside_english(open_chat, screenshot):
    zhang = in_chinese(open_chat("张伟", go=False))
    bob = open_chat("bob")
    carol = open_chat("carol")
    page = zhang.page
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#chat-widget")).to_have_attribute("lang", "zh-Hans")
    expect(bob.page.locator("#chat-widget")).to_have_attribute("lang", "en")
    expect(page.locator(".chat-status")).to_have_text("已连接")
    expect(page.locator(".chat-search-input")).to_have_attribute("placeholder", "搜索用户")
    expect(page.locator(".chat-empty")).to_have_text("还没有会话。搜索一个人开始聊天吧。")

    # Plurals: three unread in Chinese (one form for every count)...
    bob.search_and_open(zhang)
    for text in ("一", "二", "三"):
        bob.send(text)
    expect(zhang.item(bob).locator(".unread")).to_have_text("3")
    expect(zhang.item(bob).locator("button")).to_have_attribute(
        "aria-label", "bob，在线，3 条未读消息，三")
    expect(zhang.item(bob).locator(".chat-time")).to_have_text("刚刚")

    # ... one unread in English, for Carol, who sees the Chinese name.
    zhang.search_and_open(carol)
    expect(page.locator(".chat-header-state")).to_have_text("在线")
    expect(page.locator("#chat-input")).to_have_attribute("placeholder", "输入消息…")
    zhang.send("你好，Carol！")
    mine = zhang.bubble("你好，Carol！", "self")
    expect(mine.locator(".chat-state")).to_have_text(re.compile("^(已发送|已送达|已读)$"))
    expect(zhang.page.locator(".chat-day").first).to_have_text("今天")
    expect(zhang.item(carol).locator(".chat-preview")).to_have_text("我：你好，Carol！")
    expect(carol.item(zhang).locator(".chat-time")).to_have_text("just now")
    expect(carol.item(zhang).locator("button")).to_have_attribute(
        "aria-label", "张伟, online, 1 unread message, 你好，Carol！")

    # Typing, in the reader's language.
    zhang.open_with(bob)
    bob.page.wait_for_timeout(2600)  # the widget sends one typing notice per 2.5 s
    bob.page.locator("#chat-input").type("hm")
    expect(page.locator(".chat-typing")).to_have_text("bob 正在输入…")
    screenshot(page, "chat-zh")
    screenshot(carol.page, "chat-en")


def test_times_a_day_later_and_older_in_chinese(browser, open_chat):
    """The same message seen from clocks a day, three days and forty days later."""
    import datetime
    from zoneinfo import ZoneInfo
    zhang = in_chinese(open_chat("张伟", go=False))
    bob = open_chat("bob")
    zhang.search_and_open(bob)
    zhang.send("昨天的消息")
    expect(bob.item(zhang)).to_have_count(1)
    sent = zhang.page.locator(".chat-self time").first.get_attribute("data-time")
    sent = datetime.datetime.fromisoformat(sent.replace("Z", "+00:00")).astimezone(
        ZoneInfo("Asia/Shanghai"))
    clock = f"{sent:%H:%M}"
    weekday = "日一二三四五六"[(sent.weekday() + 1) % 7]

    def date_at(days):
        later = sent + datetime.timedelta(days=days)
        return (f"{sent.month}月{sent.day}日" if later.year == sent.year
                else f"{sent.year}年{sent.month}月{sent.day}日")

    # the list row's time, and the day separator above the message
    for days, row, heading in ((1, "昨天", "昨天"),
                               (3, "周" + weekday, f"{date_at(3)} 周{weekday}"),
                               (40, date_at(40), f"{date_at(40)} 周{weekday}")):
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
        try:
            context.clock.install(time=sent + datetime.timedelta(days=days, seconds=1))
            context.add_cookies([{"name": k, "value": v, "url": zhang.server.url}
                                 for k, v in zhang.session.cookies.items()])
            page = context.new_page()
            page.goto(zhang.server.url + "/")
            expect(page.locator(".chat-status")).to_have_attribute("data-state", "connected")
            item = page.locator(f'.chat-list li[data-user-id="{bob.user["id"]}"]')
            expect(item.locator(".chat-time")).to_have_text(row)
            item.locator("button").click()
            expect(page.locator(".chat-day").first).to_have_text(heading)
            expect(page.locator(".chat-self time").first).to_have_text(clock)
        finally:
            context.close()


def test_enter_that_confirms_an_ime_candidate_does_not_send(open_chat):
    zhang = in_chinese(open_chat("张伟", go=False))
    bob = open_chat("bob")
    page = zhang.page
    # In search: Enter while composing must not open the first result.
    page.fill(".chat-search-input", "bob")
    expect(page.locator(f'.chat-search-results li[data-user-id="{bob.user["id"]}"]')).to_be_visible()
    page.dispatch_event(".chat-search-input", "keydown",
                        {"key": "Enter", "code": "Enter", "keyCode": 13, "isComposing": True,
                         "bubbles": True, "cancelable": True})
    page.dispatch_event(".chat-search-input", "keydown",
                        {"key": "Process", "keyCode": 229, "bubbles": True, "cancelable": True})
    page.wait_for_timeout(300)
    expect(page.locator(".chat-container")).to_be_hidden()
    page.press(".chat-search-input", "Enter")
    expect(page.locator(".chat-header")).to_contain_text("bob")

    box = page.locator("#chat-input")
    box.fill("ni hao")
    codes = page.evaluate("""() => {
        var box = document.getElementById('chat-input');
        var seen = [];
        box.addEventListener('keydown', function (e) { seen.push([e.keyCode, e.isComposing]); });
        function key(init) {
            init.bubbles = true; init.cancelable = true;
            box.dispatchEvent(new KeyboardEvent('keydown', init));
        }
        key({key: 'Enter', code: 'Enter', keyCode: 13, isComposing: true});
        key({key: 'Enter', code: 'Enter', keyCode: 229});
        return seen;
    }""")
    assert codes == [[13, True], [229, False]]  # the events really carried what we meant
    page.wait_for_timeout(500)
    expect(zhang.bubbles()).to_have_count(0)
    expect(box).to_have_value("ni hao")
    expect(bob.item(zhang)).to_have_count(0)
    box.press("Enter")
    expect(zhang.bubble("ni hao", "self")).to_have_count(1)
    expect(box).to_have_value("")


def test_language_menu_in_the_widget(open_chat):
    alice = open_chat("alice")
    menu = alice.page.locator(".chat-language")
    expect(menu).to_have_value("en")
    menu.select_option("zh-Hans")
    expect(alice.page.locator("#chat-widget")).to_have_attribute("lang", "zh-Hans")
    expect(alice.page.locator(".chat-status")).to_have_text("已连接")
    assert alice.page.request.get(alice.server.url + "/chat/api/me").json()["locale"] == "zh-Hans"
    alice.page.locator(".chat-language").select_option("en")
    expect(alice.page.locator(".chat-status")).to_have_text("Connected")


CLIPPED = """() => {
    var sel = '.chat-me-name, .chat-status, .chat-name, .chat-preview, .chat-time, ' +
              '.chat-header-name, .chat-header-state, .chat-text, .chat-stamp, .chat-state, ' +
              '.chat-typing, .chat-language';
    var bad = [], clipping = 0;
    var nodes = document.querySelectorAll(sel);
    for (var i = 0; i < nodes.length; i++) {
        var node = nodes[i];
        if (!node.textContent.trim() || !node.getClientRects().length) { continue; }
        var range = document.createRange();
        range.selectNodeContents(node);
        var text = range.getBoundingClientRect(), box = node.getBoundingClientRect();
        var style = getComputedStyle(node);
        if (!text.height || (style.overflowY === 'visible' && style.overflowX === 'visible')) {
            continue;  // nothing drawn, or nothing cut off
        }
        clipping += 1;
        // glyphs must fit the box vertically (an ellipsis may cut a line, never a glyph's top or foot)
        if (text.top < box.top - 0.5 || text.bottom > box.bottom + 0.5) {
            bad.push(node.className + ': ' + node.textContent + ' ' + text.top + '-' + text.bottom +
                     ' in ' + box.top + '-' + box.bottom);
        }
    }
    return {bad: bad, checked: clipping};
}"""


@pytest.mark.parametrize("viewport", [{"width": 1100, "height": 720}, {"width": 390, "height": 760}],
                         ids=["desktop", "phone"])
def test_no_clipped_cjk_glyphs(open_chat, screenshot, viewport):
    zhang = in_chinese(open_chat("张伟", go=False, viewport=viewport))
    bob = open_chat("欧阳娜娜", viewport=viewport)
    bob.search_and_open(zhang)
    bob.send("今天晚上一起去吃火锅吗？我们七点在老地方见，不见不散！Ωμέγα ÅÉÎ gjpqy")
    expect(zhang.item(bob).locator(".unread")).to_have_text("1")
    result = zhang.page.evaluate(CLIPPED)
    assert result["checked"] >= 3 and result["bad"] == []
    screenshot(zhang.page, "list")
    zhang.open_with(bob)
    expect(zhang.bubble("今天晚上一起去吃火锅吗？我们七点在老地方见，不见不散！Ωμέγα ÅÉÎ gjpqy",
                        "other")).to_have_count(1)
    result = zhang.page.evaluate(CLIPPED)
    assert result["bad"] == []
    screenshot(zhang.page, "conversation")


def test_host_page_in_chinese_with_an_english_browser(open_chat):
    """A page written lang="zh-CN" gets chat in Chinese, the server's words
    included, whatever the browser's own language (here English)."""
    zhang = open_chat("zhang", go=False)
    bob = open_chat("bob")

    def as_chinese_page(route):
        response = route.fetch()
        body = response.text().replace('<html lang="en">', '<html lang="zh-CN">')
        assert 'lang="zh-CN"' in body
        route.fulfill(response=response, body=body)

    asked = []
    zhang.page.route(zhang.server.url + "/", as_chinese_page)
    zhang.page.on("request", lambda r: asked.append(r.headers.get("accept-language"))
                  if "/chat/api/" in r.url else None)
    zhang.goto().wait_connected()
    expect(zhang.page.locator("#chat-widget")).to_have_attribute("lang", "zh-Hans")
    expect(zhang.page.locator(".chat-status")).to_have_text("已连接")
    assert asked and set(asked) == {"zh-Hans"}  # the widget's requests ask for its language
    # an ack on the widget's own socket, opened with its language
    ack = zhang.page.evaluate("""() => new Promise(function (done) {
        ChatWidget.socket.emit('chat-to', {to: 'not an id', content: 'x'}, done); })""")
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert ack["error"]["message"] == "`to` 必须是用户 id（整数）。"
    me = zhang.page.evaluate("""() => new Promise(function (done) {
        var x = new XMLHttpRequest(); x.open('GET', '/chat/api/me');
        x.setRequestHeader('Accept-Language', 'en'); x.onload = function () { done(JSON.parse(x.responseText)); };
        x.send(); })""")
    assert me["locale"] == "en"  # the header decides when no cookie does
