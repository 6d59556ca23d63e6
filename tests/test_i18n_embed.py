"""Languages in a host site: its Flask-Babel selector or chat's hook decides;
a host without Flask-Babel still gets chat in the browser's language."""
from flask import request
from flask_babel import Babel, gettext as host_gettext

from chatapp import Chat
from test_embed import host_app, login

ZH = {"Accept-Language": "zh-CN"}


def test_host_without_flask_babel(tmp_path):
    app = host_app(tmp_path / "h.sqlite")
    assert "babel" not in app.extensions  # chat does not set Babel up on a host
    alice = login(app, "p-alice")
    assert alice.get("/chat/api/me").json["locale"] == "en"
    assert alice.get("/chat/api/me", headers=ZH).json["locale"] == "zh-Hans"
    r = alice.get("/chat/api/conversations/nobody/messages", headers=ZH)
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_user"
    r = alice.post("/chat/api/conversations/p-bob/read", data="x", headers=ZH)
    assert r.status_code == 415
    assert r.json["error"]["code"] == "unsupported"


def test_host_flask_babel_selector_wins_and_keeps_its_own_catalog(tmp_path):
    def with_babel(app):
        # the host picks from a query parameter, whatever the browser says
        Babel(app, locale_selector=lambda: request.args.get("lang", "en"))

        @app.get("/hello")
        def hello():
            return host_gettext("Hello")  # the host's own domain: untouched by chat

    app = host_app(tmp_path / "h.sqlite", before_chat=with_babel)
    alice = login(app, "p-alice")
    assert alice.get("/chat/api/me?lang=zh_CN").json["locale"] == "zh-Hans"
    assert alice.get("/chat/api/me?lang=en", headers=ZH).json["locale"] == "en"
    # a language chat lacks: chat goes on with its own order
    assert alice.get("/chat/api/me?lang=de", headers=ZH).json["locale"] == "zh-Hans"
    r = alice.get("/chat/api/conversations/nobody/messages?lang=zh_Hans")
    assert r.json["error"]["code"] == "unknown_user"
    assert alice.get("/hello?lang=zh_CN").get_data(as_text=True) == "Hello"
    assert app.extensions["babel"].default_domain == "messages"


def test_locale_hook_comes_first(tmp_path):
    chat = Chat()

    @chat.locale
    def from_header():
        return request.headers.get("X-User-Language")

    app = host_app(tmp_path / "h.sqlite", chat=chat)
    alice = login(app, "p-alice")
    alice.set_cookie("chat_lang", "en")
    assert alice.get("/chat/api/me", headers={"X-User-Language": "zh-Hans"}).json["locale"] \
        == "zh-Hans"
    assert alice.get("/chat/api/me", headers=ZH).json["locale"] == "en"  # cookie, then header


def test_widget_tags_carry_the_languages(tmp_path):
    from flask import render_template_string
    app = host_app(tmp_path / "h.sqlite")
    with app.test_request_context(headers=ZH):
        html = render_template_string('{{ chat_widget(lang="zh-Hans") }}')
    assert 'data-server-lang="zh-Hans"' in html and 'data-chat-lang="zh-Hans"' in html
    assert "/chat/static/i18n/en.js" in html and "/chat/static/i18n/zh-Hans.js" in html
    assert html.index("chat-i18n.js") < html.index("i18n/en.js") < html.index("/chat.js")
    app.config["CHAT_LANGUAGES"] = ["en"]
    with app.test_request_context(headers=ZH):
        html = render_template_string("{{ chat_widget() }}")
    assert "data-chat-lang" not in html and 'data-server-lang="en"' in html
    assert "zh-Hans.js" not in html
