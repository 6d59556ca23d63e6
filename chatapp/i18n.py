"""Chat's languages: which one a request gets, and chat's own message catalog.

Chat's strings live in their own gettext domain (``chatapp``, catalogs in
``chatapp/translations/<locale>/LC_MESSAGES/chatapp.po`` and ``.mo``), so they
never mix with a host's ``messages`` catalogs. Flask-Babel's ``LazyString``
carries a message until it is shown, so a message made at import time (a form
label, an error) is translated when it is rendered, in that request's language.

The language, in the contract's order: the host's own choice (chat's ``locale``
hook, else the selector of the host's Flask-Babel), the ``chat_lang`` cookie,
``Accept-Language``, then ``CHAT_DEFAULT_LANGUAGE``. Only languages listed in
``CHAT_LANGUAGES`` are picked (by default every language chat has a catalog
for). A host without Flask-Babel needs nothing: chat does not need Babel on
the app to translate its own strings.

Tags are BCP 47 (``en``, ``zh-Hans``); catalogs use Babel's locale
identifiers (``zh_Hans``).
"""
import functools
import os

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from flask import current_app, g, has_app_context, has_request_context, request
from flask_babel import LazyString

DOMAIN = "chatapp"
TRANSLATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")
COOKIE = "chat_lang"
SOURCE_LANGUAGE = "en"  # the language of the message ids

# Tags that mean Simplified Chinese (compared in lower case). Traditional
# Chinese (zh-TW, zh-HK, zh-Hant) is not offered, so it falls through.
_ALIASES = {"zh": "zh-hans", "zh-cn": "zh-hans", "zh-sg": "zh-hans", "zh-my": "zh-hans",
            "zh-hans-cn": "zh-hans", "zh-hans-sg": "zh-hans", "zh-hans-my": "zh-hans"}

_translations = {}  # tag -> Translations, one load per process and language


@functools.cache
def catalog_tags():
    """Every language chat can speak: the source language and each catalog
    (read once: catalogs do not change while the process runs)."""
    tags = [SOURCE_LANGUAGE]
    if os.path.isdir(TRANSLATIONS):
        for name in sorted(os.listdir(TRANSLATIONS)):
            if os.path.isfile(os.path.join(TRANSLATIONS, name, "LC_MESSAGES", DOMAIN + ".mo")):
                tags.append(to_tag(name))
    return tags


def to_tag(babel_id):
    """``zh_Hans`` -> ``zh-Hans``."""
    return babel_id.replace("_", "-")


def to_babel(tag):
    """``zh-Hans`` -> ``zh_Hans`` (the catalog folder's name)."""
    return tag.replace("-", "_")


def offered(app=None):
    """The tags of ``CHAT_LANGUAGES``, as written there (``en``, ``zh-Hans``)."""
    app = app or current_app
    value = app.config.get("CHAT_LANGUAGES")
    if not value:
        return list(catalog_tags())
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [str(v) for v in value]


def match(tag, languages):
    """The offered language that ``tag`` asks for, else ``None``.

    An exact tag (any case, ``-`` or ``_``) wins; then the Simplified Chinese
    aliases; then the primary language (``en-GB`` -> ``en``).
    """
    if not tag or not isinstance(tag, str):
        return None
    wanted = tag.strip().replace("_", "-").lower()
    by_lower = {t.lower(): t for t in languages}
    if wanted in by_lower:
        return by_lower[wanted]
    alias = _ALIASES.get(wanted)
    if alias in by_lower:
        return by_lower[alias]
    primary = wanted.split("-", 1)[0]
    return by_lower.get(primary)


def negotiate(widget_language=None):
    """The language for this request, in the contract's order.

    ``widget_language`` is what the widget asks for when it opens a socket (the
    page's language); it ranks as the first entry of ``Accept-Language``, as the
    widget's own HTTP requests send it.
    """
    app = current_app
    languages = offered(app)
    chosen = _host_choice(app, languages)
    if chosen is None and has_request_context():
        chosen = match(request.cookies.get(COOKIE), languages)
        if chosen is None:
            wanted = [widget_language] + [v for v, _q in request.accept_languages]
            chosen = next((m for m in (match(v, languages) for v in wanted) if m), None)
    return chosen or default_language(app)


def default_language(app=None):
    app = app or current_app
    languages = offered(app)
    return match(app.config.get("CHAT_DEFAULT_LANGUAGE"), languages) or \
        (languages[0] if languages else SOURCE_LANGUAGE)


def _host_choice(app, languages):
    """The host's ``locale`` hook, else its Flask-Babel selector, if offered."""
    state = app.extensions.get("chat")
    hook = state.hooks.get("locale") if state is not None else None
    if hook is not None:
        picked = match(_as_tag(hook()), languages)
        if picked:
            return picked
    babel = app.extensions.get("babel")
    selector = getattr(babel, "locale_selector", None)
    if selector is not None and not getattr(selector, "follows_chat", False) \
            and has_request_context():
        import flask_babel
        return match(_as_tag(flask_babel.get_locale()), languages)
    return None


def _as_tag(value):
    if value is None:
        return None
    if isinstance(value, Locale):
        return to_tag(str(value))
    return str(value)


def get_locale():
    """This request's (or socket event's) language tag; chosen once, then kept."""
    if not has_app_context():
        return SOURCE_LANGUAGE
    tag = g.get("chat_locale")
    if tag is None:
        tag = g.chat_locale = negotiate()
    return tag


def use_locale(tag):
    """Speak ``tag`` for the rest of this app context (a socket event, the CLI)."""
    g.chat_locale = tag


def use_environment_locale():
    """Speak the language of the shell (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``) for the rest of this app context: the CLI's messages."""
    from babel.core import default_locale
    found = default_locale(("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"))
    use_locale(match(found, offered()) or default_language())


def babel_selector():
    """A Flask-Babel ``locale_selector`` that follows chat's choice (the
    standalone site's: its pages and chat speak the same language)."""
    return to_babel(get_locale())


babel_selector.follows_chat = True


def translations(tag=None):
    tag = tag or get_locale()
    found = _translations.get(tag)
    if found is None:
        if tag == SOURCE_LANGUAGE:
            found = NullTranslations()
        else:
            try:
                found = Translations.load(TRANSLATIONS, [Locale.parse(to_babel(tag))], DOMAIN)
            except (UnknownLocaleError, ValueError):
                found = NullTranslations()
        _translations[tag] = found
    return found


def gettext(message, **variables):
    """``message`` in this request's language; ``%(name)s`` filled from ``variables``."""
    text = translations().ugettext(message)
    return text % variables if variables else text


def ngettext(singular, plural, num, **variables):
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


def lazy_gettext(message, **variables):
    """A message translated when it is shown (module level, form labels, errors)."""
    return LazyString(gettext, message, **variables)


_ = gettext
_l = lazy_gettext


STATIC_CATALOGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static", "i18n")


def widget_catalogs(app=None):
    """The widget catalogs (``static/i18n/<tag>.js``) to load: English, the
    fallback, and every other offered language that has one."""
    tags = [SOURCE_LANGUAGE] + [t for t in offered(app) if t != SOURCE_LANGUAGE]
    return [t for t in tags if os.path.isfile(os.path.join(STATIC_CATALOGS, t + ".js"))]


def choices(app=None):
    """``[[tag, name in its own language], ...]`` of the offered languages."""
    return [[t, language_name(t)] for t in offered(app)]


def language_name(tag):
    """A language's own name for itself (``简体中文``, ``English``)."""
    try:
        locale = Locale.parse(to_babel(tag))
    except (UnknownLocaleError, ValueError):
        return tag
    name = locale.get_display_name(locale) or tag
    if tag.lower() == "zh-hans":
        return "简体中文"
    return name[:1].upper() + name[1:]
