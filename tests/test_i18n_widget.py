"""The widget's catalogs and ChatI18n (chat-i18n.js), run in a real Chromium."""
from pathlib import Path

import esprima
import pytest

from tests.test_es5 import es5_violations

STATIC = Path(__file__).resolve().parent.parent / "chatapp" / "static"
CATALOG_FILES = sorted((STATIC / "i18n").glob("*.js"))
I18N_JS = STATIC / "chat-i18n.js"


def catalog_entries(path):
    """``{id: value}`` of a catalog file's ``messages``: a string, or the set of plural forms."""
    tree = esprima.parseScript(path.read_text(encoding="utf-8")).toDict()
    found = {}

    def key_of(prop):
        k = prop["key"]
        return k.get("name") or k.get("value")

    def walk(node):
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if node.get("type") == "Property" and key_of(node) == "messages":
                for prop in node["value"]["properties"]:
                    value = prop["value"]
                    if value["type"] == "ObjectExpression":
                        found[key_of(prop)] = {key_of(p) for p in value["properties"]}
                    else:
                        found[key_of(prop)] = value["value"]
                return
            for value in node.values():
                walk(value)

    walk(tree)
    return found


def test_catalog_files_exist_for_both_languages():
    assert {p.stem for p in CATALOG_FILES} >= {"en", "zh-Hans"}


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_every_widget_catalog_has_every_id(path):
    """A missing or empty translation fails here, not in a user's browser."""
    source = catalog_entries(STATIC / "i18n" / "en.js")
    other = catalog_entries(path)
    assert source, "no messages found in en.js"
    assert sorted(set(source) - set(other)) == [], f"{path.name} lacks these ids"
    assert sorted(set(other) - set(source)) == [], f"{path.name} has ids en.js lacks"
    for key, value in other.items():
        if isinstance(source[key], set):
            assert isinstance(value, set) and "other" in value, (path.name, key)
        else:
            assert isinstance(value, str) and value.strip(), (path.name, key)


@pytest.mark.parametrize("path", CATALOG_FILES + [I18N_JS], ids=lambda p: p.name)
def test_i18n_files_are_es5(path):
    assert es5_violations(path.read_text(encoding="utf-8")) == []


def test_chat_js_ids_are_in_the_catalog():
    """Every t('id') in the widget names an id of en.js."""
    import re
    ids = set(catalog_entries(STATIC / "i18n" / "en.js"))
    used = set(re.findall(r"\bt\('([a-z_]+)'", (STATIC / "chat.js").read_text(encoding="utf-8")))
    assert len(used) > 30, "chat.js no longer takes its words from the catalog"
    assert sorted(used - ids) == []


@pytest.fixture
def page(browser):
    context = browser.new_context(timezone_id="Asia/Shanghai", locale="en-US")
    page = context.new_page()
    page.set_content("<!doctype html><html><body><div id='chat-widget'></div></body></html>")
    for path in CATALOG_FILES + [I18N_JS]:
        page.add_script_tag(content=path.read_text(encoding="utf-8"))
    yield page
    context.close()


# Local times in the page's zone; "now" is 2026-11-04 09:00.
CASES = """
(function (lang) {
  var i = ChatI18n.create(lang);
  var now = new Date(2026, 10, 4, 9, 0, 0).getTime();
  function at(y, mo, d, h, mi) { return new Date(y, mo, d, h, mi, 0).toISOString(); }
  return {
    lang: i.lang,
    send: i.t('send'),
    one: i.t('new_messages', {count: 1}),
    three: i.t('new_messages', {count: 3}),
    zero: i.t('new_messages', {count: 0}),
    justNow: i.relTime(new Date(now - 20000).toISOString(), false, now),
    fiveMin: i.relTime(new Date(now - 5 * 60000).toISOString(), false, now),
    oneMin: i.relTime(new Date(now - 61000).toISOString(), false, now),
    todayClock: i.relTime(at(2026, 10, 4, 7, 30), false, now),
    yesterdayAt: i.relTime(at(2026, 10, 3, 14, 5), true, now),
    yesterday: i.relTime(at(2026, 10, 3, 14, 5), false, now),
    weekday: i.relTime(at(2026, 10, 1, 10, 0), false, now),
    thisYear: i.relTime(at(2026, 9, 3, 10, 0), false, now),
    otherYear: i.relTime(at(2025, 10, 3, 10, 0), false, now),
    today: i.dayLabel(new Date(now), now),
    heading: i.dayHeading(new Date(2026, 10, 1, 10, 0), now),
    headingYesterday: i.dayHeading(new Date(2026, 10, 3, 23, 59), now),
    headingOld: i.dayHeading(new Date(2025, 0, 9, 10, 0), now),
    jump: i.t('jump_new', {count: 2}),
    over: i.t('too_long_by', {count: 1, limit: 2000}),
    typing: i.t('is_typing', {name: '张伟'}),
    missing: i.t('no_such_id_anywhere')
  };
})
"""


def test_english_words_plurals_and_times(page):
    r = page.evaluate(CASES + "('en')")
    assert r == {
        "lang": "en", "send": "Send", "one": "1 new message", "three": "3 new messages",
        "zero": "0 new messages", "justNow": "just now", "fiveMin": "5 min ago",
        "oneMin": "1 min ago", "todayClock": "07:30", "yesterdayAt": "Yesterday 14:05",
        "yesterday": "Yesterday", "weekday": "Sun", "thisYear": "3 Oct",
        "otherYear": "3 Nov 2025", "today": "Today", "typing": "张伟 is typing\u2026",
        "heading": "Sun, 1 Nov", "headingYesterday": "Yesterday", "headingOld": "Thu, 9 Jan 2025",
        "jump": "2 new", "over": "Too long: 1 character over the limit of 2000",
        "missing": "no_such_id_anywhere"}


def test_chinese_words_plurals_and_times(page):
    r = page.evaluate(CASES + "('zh-Hans')")
    assert r == {
        "lang": "zh-Hans", "send": "发送", "one": "1 条新消息", "three": "3 条新消息",
        "zero": "0 条新消息", "justNow": "刚刚", "fiveMin": "5 分钟前", "oneMin": "1 分钟前",
        "todayClock": "07:30", "yesterdayAt": "昨天 14:05", "yesterday": "昨天",
        "weekday": "周日", "thisYear": "10月3日", "otherYear": "2025年11月3日",
        "today": "今天", "typing": "张伟 正在输入…", "missing": "no_such_id_anywhere",
        "heading": "11月1日 周日", "headingYesterday": "昨天", "headingOld": "2025年1月9日 周四",
        "jump": "2 条新消息", "over": "太长了：超出 2000 字上限 1 个字"}


def test_a_missing_chinese_id_falls_back_to_english(page):
    r = page.evaluate("""() => {
        delete ChatI18nCatalogs['zh-Hans'].messages.retry;
        return ChatI18n.create('zh-Hans').t('retry');
    }""")
    assert r == "Retry"


PICK = """([widgetLang, htmlLang, serverLang]) => {
    var root = document.getElementById('chat-widget');
    function set(node, name, value) {
        if (value === null) { node.removeAttribute(name); } else { node.setAttribute(name, value); }
    }
    set(root, 'data-chat-lang', widgetLang);
    set(document.documentElement, 'lang', htmlLang);
    set(root, 'data-server-lang', serverLang);
    return ChatI18n.pick(root);
}"""


@pytest.mark.parametrize("widget_lang, html_lang, server_lang, expected", [
    ("zh-Hans", "en", "en", "zh-Hans"),       # data-chat-lang first
    ("en", "zh-CN", "zh-Hans", "en"),
    (None, "zh-CN", "en", "zh-Hans"),         # then <html lang>
    (None, "zh", "en", "zh-Hans"),
    (None, "zh-SG", "en", "zh-Hans"),
    (None, "zh-hans", "en", "zh-Hans"),
    (None, "en-GB", "zh-Hans", "en"),
    (None, None, "zh-Hans", "zh-Hans"),       # then the server's choice
    (None, "fr", "zh-Hans", "zh-Hans"),       # a language with no catalog falls through
    (None, "zh-TW", "en", "en"),              # Traditional Chinese is not offered
    ("xx", "", None, "en"),                   # nothing usable: English
])
def test_pick_follows_widget_then_page_then_server(page, widget_lang, html_lang, server_lang,
                                                   expected):
    assert page.evaluate(PICK, [widget_lang, html_lang, server_lang]) == expected


def test_values_are_text_not_markup(page):
    r = page.evaluate("ChatI18n.create('en').t('is_typing', {name: '<b>x</b>{count}'})")
    assert r == "<b>x</b>{count} is typing\u2026"


NOT_WORDS = {  # literals in chat.js that are code, not words a user reads
    "use strict", "Accept", "Accept-Language", "Content-Type", "io server disconnect",
    "io client disconnect", "noopener noreferrer nofollow", "bold 30px sans-serif",
    "; path=/; max-age=31536000; samesite=lax", "Escape", "Enter", "ArrowDown", "ArrowUp",
    "Tab", "Process", "Backspace", "Home", "End", "PageUp", "PageDown"}


def test_chat_js_shows_no_word_outside_the_catalog():
    """Words a user reads come from t('id'): a new English literal in chat.js
    (a label, a placeholder, a status) would stay English in every language."""
    import re
    found = []
    for token in esprima.tokenize((STATIC / "chat.js").read_text(encoding="utf-8")):
        if token.type != "String":
            continue
        text = token.value[1:-1]
        if text in NOT_WORDS or re.fullmatch(r"[\w-]*chat-[\w -]*", text) \
                or re.fullmatch(r"M[\d .,a-zA-Z-]*", text):
            continue
        if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", text) or re.fullmatch(r"[A-Z][a-z]{2,}.*", text):
            found.append(text)
    assert found == [], "put these in static/i18n/*.js and use t('id')"
