"""The widget among a host's styles and on phones: problems 9, 10 and the
contrast and dark-mode parts of 11 of the "widget people trust" report."""
import pytest
from playwright.sync_api import expect

from .measure import contrast, looks
from .test_docked import forum, member_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

# Element rules a host site may well have (problem 10 came from the first two).
HOSTILE = """
header { color: #fbf7f0; }
.chat-widget button { color: inherit; }
* { box-sizing: content-box; }
body { font-family: Georgia, serif; font-size: 21px; color: #fbf7f0; background: #2b2b2b; line-height: 2; }
button { background: #ececec; border: 3px solid #b00; padding: 14px; font: 700 19px Georgia, serif;
         text-transform: uppercase; border-radius: 0; min-width: 120px; }
ul, ol { list-style: square; margin: 24px; padding: 24px; }
li { margin: 12px; padding: 8px; list-style: disc; }
img { border: 5px solid #000; padding: 6px; max-width: 12px; height: auto; }
input, textarea { border: 3px dashed #0a0; font-size: 28px; background: #ff0; color: #333; padding: 12px; }
h2 { font-size: 42px; color: #fbf7f0; text-decoration: underline; }
p, span, time { color: #fbf7f0; letter-spacing: 3px; }
section, aside, div { padding: 3px; }
"""

WATCHED = [".chat-launcher", ".chat-panel", ".chat-sidebar-head", ".chat-status", ".chat-search-input",
           ".chat-list li", ".chat-item-button", ".chat-avatar img", ".chat-name"]
WATCHED_CONV = [".chat-header", ".chat-header-name", ".chat-back", ".chat-input", ".chat-send",
                ".chat-content li.chat-self .chat-bubble", ".chat-content li.chat-other .chat-bubble"]


def snapshot(page, selectors):
    return {sel: looks(page.locator(sel).first) for sel in selectors}


def test_problem_10_host_styles_do_not_reach_the_widget(browser, forum):  # noqa: F811
    contexts = []
    try:
        ann = member_page(browser, forum, "ann", "Ann Lee", contexts)
        ben = member_page(browser, forum, "ben", "Ben Ng", contexts)
        ben.goto(forum.url + "/")
        expect(ben.locator(".chat-status")).to_have_attribute("data-state", "connected")
        ann.goto(forum.url + "/")
        ann.locator(".chat-launcher").click()
        expect(ann.locator(".chat-status")).to_have_attribute("data-state", "connected")
        ann.evaluate("id => ChatWidget.open(id)", ben.member["id"])
        ann.locator("#chat-input").fill("hello Ben")
        ann.locator("#chat-input").press("Enter")
        ben.locator(".chat-launcher").click()
        ben.locator(f'.chat-list li[data-user-id="{ann.member["id"]}"]').click()
        ben.locator("#chat-input").fill("hi Ann")
        ben.locator("#chat-input").press("Enter")
        expect(ann.locator(".chat-content li.chat-other")).to_have_count(1)
        ann.locator(".chat-back").click()
        before = snapshot(ann, WATCHED)
        ann.evaluate("id => ChatWidget.open(id)", ben.member["id"])
        before_conv = snapshot(ann, WATCHED_CONV)

        ann.add_style_tag(content=HOSTILE)
        after_conv = snapshot(ann, WATCHED_CONV)
        ann.locator(".chat-back").click()
        after = snapshot(ann, WATCHED)
        assert after == before
        assert after_conv == before_conv

        # Measured contrast of what the report found unreadable.
        assert contrast(ann.locator(".chat-status")) >= 4.5
        assert contrast(ann.locator(".chat-launcher")) >= 4.5
        ann.evaluate("id => ChatWidget.open(id)", ben.member["id"])
        assert contrast(ann.locator(".chat-header-name")) >= 4.5
        assert contrast(ann.locator(".chat-back")) >= 4.5
        assert contrast(ann.locator(".chat-send")) >= 4.5
        assert contrast(ann.locator(".chat-content li.chat-self .chat-text")) >= 4.5

        # And none of the widget's rules applies outside it.
        leaks = ann.evaluate("""() => {
          var out = [];
          for (var s of document.styleSheets) {
            if (!s.href || s.href.indexOf('chat.css') < 0) { continue; }
            (function walk(rules) {
              for (var r of rules) {
                if (r.cssRules && !r.selectorText) { walk(r.cssRules); continue; }
                if (!r.selectorText) { continue; }
                r.selectorText.split(',').forEach(function (sel) {
                  sel = sel.trim();
                  if (!/^(#chat-widget|\\.chat-page|body\\.chat-page|\\.chat-auth)/.test(sel)) { out.push(sel); }
                });
              }
            })(s.cssRules);
          }
          return out; }""")
        assert leaks == []
    finally:
        for c in contexts:
            c.close()


def test_problem_10_send_icon_is_white_on_the_standalone_page(open_chat):
    alice = open_chat("alice")
    bob = open_chat("bob")
    alice.search_and_open(bob)
    assert contrast(alice.page.locator(".chat-send")) >= 4.5


def test_problem_9_docked_widget_on_a_phone(browser, forum):  # noqa: F811
    contexts = []
    try:
        ann = member_page(browser, forum, "ann", "Ann Lee", contexts)
        ben = member_page(browser, forum, "ben", "Ben Ng", contexts)
        ann.close()
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                    has_touch=True, device_scale_factor=3)
        contexts.append(phone)
        phone.add_cookies(ann.context.cookies())
        page = phone.new_page()
        page.goto(forum.url + "/")
        assert page.evaluate("window.innerWidth") == 390  # laid out for the phone, not 980 px
        launcher = page.locator(".chat-launcher")
        box = launcher.bounding_box()
        assert box["width"] >= 48 and box["height"] >= 48
        launcher.click()
        panel = page.locator(".chat-panel")
        expect(panel).to_be_visible()
        pbox = panel.bounding_box()
        assert pbox["width"] == 390 and pbox["height"] == 844  # full screen
        page.evaluate("id => ChatWidget.open(id)", ben.member["id"])
        expect(page.locator(".chat-header")).to_contain_text("Ben Ng")
        close = page.locator(".chat-container .chat-close")
        expect(close).to_be_visible()
        cbox = close.bounding_box()
        assert cbox["width"] >= 40 and cbox["height"] >= 40
        close.click()
        expect(panel).to_be_hidden()
        expect(launcher).to_be_visible()
    finally:
        for c in contexts:
            c.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_problem_11_contrast_in_both_themes(open_chat, scheme):
    alice = open_chat("alice", go=False)
    bob = open_chat("bob")
    alice.page.emulate_media(color_scheme=scheme)
    alice.goto().wait_connected()
    alice.search_and_open(bob)
    alice.send("mine")
    bob.open_with(alice)
    bob.send("theirs")
    expect(alice.bubble("theirs", "other")).to_have_count(1)
    page = alice.page
    surface = page.locator(".chat-sidebar").evaluate("el => getComputedStyle(el).backgroundColor")
    if scheme == "dark":
        assert surface != "rgb(255, 255, 255)"
        dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert dark
    checks = {
        "placeholder": contrast(page.locator("#chat-input"), "::placeholder"),
        "search placeholder": contrast(page.locator(".chat-search-input"), "::placeholder"),
        "active row time": contrast(page.locator(".chat-item.active .chat-time")),
        "active row preview": contrast(page.locator(".chat-item.active .chat-preview")),
        "online": contrast(page.locator(".chat-header-state.is-online")),
        "own bubble text": contrast(alice.bubble("mine", "self").locator(".chat-text")),
        "own bubble time": contrast(alice.bubble("mine", "self").locator(".chat-stamp")),
        "their bubble": contrast(alice.bubble("theirs", "other").locator(".chat-text")),
        "status": contrast(page.locator(".chat-status")),
        "name": contrast(page.locator(".chat-header-name")),
    }
    # A pending bubble, with its state text.
    alice.context.set_offline(True)
    expect(page.locator(".chat-conn")).to_be_visible()
    alice.send("pending")
    pending = alice.bubble("pending", "self")
    expect(pending).to_have_class(__import__("re").compile("chat-pending"))
    checks["pending text"] = contrast(pending.locator(".chat-text"))
    checks["pending state"] = contrast(pending.locator(".chat-state"))
    checks["connection banner"] = contrast(page.locator(".chat-conn"))
    alice.context.set_offline(False)
    low = {k: v for k, v in checks.items() if v < 4.5}
    assert not low, checks
