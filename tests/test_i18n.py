"""Server languages: catalogs complete and compiled, the contract's negotiation
order, and messages in the chosen language with unchanged codes."""
import re
from pathlib import Path

import pytest
from babel.messages import extract
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask

from chatapp import i18n

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "chatapp" / "translations"
KEYWORDS = {**extract.DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
CATALOGS = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/chatapp.po"))
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def source_ids():
    """Every message id marked in the sources, found as ``pybabel extract`` finds them."""
    from babel.messages import frontend
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse(f)
    ids = set()
    for _file, _line, message, _comments, _context in extract.extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def load_po(path):
    with open(path, "rb") as f:
        return read_po(f, domain="chatapp")


def test_both_languages_have_a_catalog():
    assert {p.parent.parent.name for p in CATALOGS} >= {"zh_Hans"}
    assert i18n.catalog_tags()[:1] == ["en"] and "zh-Hans" in i18n.catalog_tags()


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_every_catalog_translates_every_message(po):
    """A message marked in the code but missing (or fuzzy) in a catalog fails CI."""
    ids = source_ids()
    assert len(ids) > 25, "extraction found too few messages: is babel.cfg right?"
    catalog = load_po(po)
    missing = []
    for msgid in sorted(ids):
        found = catalog.get(msgid)
        if found is None:
            found = next((m for m in catalog if isinstance(m.id, tuple) and m.id[0] == msgid), None)
        strings = () if found is None else (
            found.string if isinstance(found.string, tuple) else (found.string,))
        if found is None or found.fuzzy or not all(s.strip() for s in strings):
            missing.append(msgid)
            continue
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) <= set(PLACEHOLDER.findall(
                msgid if isinstance(found.id, str) else " ".join(found.id))), (msgid, s)
    assert missing == []


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parent.parent.name)
def test_compiled_catalog_matches_its_source(po):
    """The committed .mo is what ``pybabel compile`` makes of the .po."""
    with open(po.with_suffix(".mo"), "rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in load_po(po) if m.id and not m.fuzzy}
    assert compiled == source, "run: pybabel compile -D chatapp -d chatapp/translations"


# -- negotiation -------------------------------------------------------------

@pytest.mark.parametrize("tag, expected", [
    ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh-Hans", "zh-Hans"),
    ("zh_hans", "zh-Hans"), ("ZH-cn", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"), ("en", "en"),
    ("en-GB", "en"), ("en_US", "en"), ("zh-TW", None), ("zh-Hant", None), ("fr", None),
    ("", None), (None, None), ("*", None)])
def test_match(tag, expected):
    assert i18n.match(tag, ["en", "zh-Hans"]) == expected


def bare_app(hook=None, **config):
    """A Flask app with only what ``negotiate`` reads: config and chat's hooks."""
    app = Flask(__name__)
    app.config.update({"CHAT_LANGUAGES": None, "CHAT_DEFAULT_LANGUAGE": "en", **config})

    class State:
        hooks = {"locale": hook} if hook else {}

    app.extensions["chat"] = State()
    return app


@pytest.mark.parametrize("hook, cookie, accept, default, expected", [
    (lambda: "zh-Hans", "en", "en", "en", "zh-Hans"),        # the host's hook first
    (lambda: None, "zh-Hans", "en", "en", "zh-Hans"),        # a hook with no opinion passes
    (lambda: "fr", "zh-Hans", "en", "en", "zh-Hans"),        # so does one not offered
    (None, "zh-Hans", "en-US,en;q=0.9", "en", "zh-Hans"),    # then the cookie
    (None, "en", "zh-CN", "zh-Hans", "en"),
    (None, "xx", "zh-CN,en;q=0.5", "en", "zh-Hans"),         # then Accept-Language
    (None, None, "fr, zh-SG;q=0.8, en;q=0.5", "en", "zh-Hans"),  # in quality order
    (None, None, "en;q=0.4, zh;q=0.9", "en", "zh-Hans"),
    (None, None, "zh-TW, en;q=0.5", "zh-Hans", "en"),
    (None, None, "fr", "zh-Hans", "zh-Hans"),                 # then the default
    (None, None, None, "en", "en"),
])
def test_negotiation_order(hook, cookie, accept, default, expected):
    app = bare_app(hook, CHAT_DEFAULT_LANGUAGE=default)
    headers = {}
    if cookie:
        headers["Cookie"] = f"chat_lang={cookie}"
    if accept:
        headers["Accept-Language"] = accept
    with app.test_request_context(headers=headers):
        assert i18n.get_locale() == expected


def test_only_offered_languages_are_picked():
    app = bare_app(CHAT_LANGUAGES=["en"])
    with app.test_request_context(headers={"Accept-Language": "zh-CN",
                                           "Cookie": "chat_lang=zh-Hans"}):
        assert i18n.get_locale() == "en"
    app = bare_app(CHAT_LANGUAGES="zh-Hans", CHAT_DEFAULT_LANGUAGE="en")
    with app.test_request_context():
        assert i18n.get_locale() == "zh-Hans"  # an unoffered default gives way


def test_host_flask_babel_selector_is_followed():
    from flask_babel import Babel
    app = bare_app()
    Babel(app, locale_selector=lambda: "zh_Hans_CN")
    with app.test_request_context(headers={"Cookie": "chat_lang=en"}):
        assert i18n.get_locale() == "zh-Hans"
    app = bare_app()
    Babel(app, locale_selector=lambda: "de")  # a language chat lacks: chat's own order
    with app.test_request_context(headers={"Cookie": "chat_lang=zh-Hans"}):
        assert i18n.get_locale() == "zh-Hans"


def test_gettext_in_each_language():
    app = bare_app()
    for tag, expected in (("en", "Wrong name or password."), ("zh-Hans", "名字或密码错误。")):
        with app.test_request_context(headers={"Cookie": f"chat_lang={tag}"}):
            assert i18n.gettext("Wrong name or password.") == expected
            assert str(i18n.lazy_gettext("Wrong name or password.")) == expected


def test_language_names():
    assert i18n.language_name("en") == "English"
    assert i18n.language_name("zh-Hans") == "简体中文"
