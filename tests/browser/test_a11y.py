"""axe-core (vendored, pinned: tests/browser/vendor/axe-4.10.3.min.js) on the
standalone page and on the docked widget, light and dark: no critical or
serious violation."""
import json
import pathlib

import pytest
from playwright.sync_api import expect

from .test_docked import forum, member_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
AXE = (pathlib.Path(__file__).parent / "vendor" / "axe-4.10.3.min.js").read_text()


def serious(page, context="document"):
    # DevTools evaluation, not a <script> tag: the page's CSP (no inline script) stays as it is.
    page.evaluate(AXE)
    result = page.evaluate(f"""async () => {{
        const r = await axe.run({context}, {{resultTypes: ['violations']}});
        return r.violations.filter(v => v.impact === 'critical' || v.impact === 'serious')
          .map(v => ({{id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}}));
    }}""")
    return result


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_standalone_page_has_no_serious_violations(open_chat, scheme):
    alice = open_chat("alice", go=False)
    bob = open_chat("bob")
    alice.page.emulate_media(color_scheme=scheme)
    alice.goto().wait_connected()
    assert serious(alice.page) == []
    alice.search_and_open(bob)
    alice.send("hello www.python.org")
    bob.open_with(alice)
    bob.send("hi there")
    expect(alice.bubble("hi there", "other")).to_have_count(1)
    found = serious(alice.page)
    assert found == [], json.dumps(found, indent=1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_docked_widget_has_no_serious_violations(browser, forum, scheme):  # noqa: F811
    contexts = []
    try:
        ann = member_page(browser, forum, "ann", "Ann Lee", contexts)
        ben = member_page(browser, forum, "ben", "Ben Ng", contexts)
        ann.emulate_media(color_scheme=scheme)
        ben.goto(forum.url + "/")
        ann.goto(forum.url + "/")
        expect(ann.locator(".chat-status")).to_have_attribute("data-state", "connected")
        assert serious(ann, "'#chat-widget'") == []
        ann.locator(".chat-launcher").click()
        assert serious(ann, "'#chat-widget'") == []
        ann.evaluate("id => ChatWidget.open(id)", ben.member["id"])
        ann.locator("#chat-input").fill("hello")
        ann.locator("#chat-input").press("Enter")
        expect(ann.locator(".chat-content li.chat-self")).to_have_count(1)
        found = serious(ann, "'#chat-widget'")
        assert found == [], json.dumps(found, indent=1)
    finally:
        for c in contexts:
            c.close()
