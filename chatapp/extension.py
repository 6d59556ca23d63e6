"""``Chat``, the Flask extension: ``init_app`` wires chat into a host app
(its users, login, database and Socket.IO)."""
import logging
from collections import ChainMap

import sqlalchemy as sa
from flask import request
from flask_sqlalchemy import SQLAlchemy
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from . import config, errors

log = logging.getLogger("chatapp")


class Chat:
    """Chat for a Flask app.

    ``init_app(app, user_model=..., db=None, socketio=None, **hooks)``: ``db``
    and ``socketio`` default to the host's own (``app.extensions``), else chat
    makes its own. Hooks (keyword or decorator): ``can_message(sender,
    recipient)``, ``display_name(user)``, ``avatar_url(user)``,
    ``search_users(q, limit, exclude)``, ``locale()`` (the language the host
    chose for this request, e.g. ``"zh-Hans"``, or ``None``; see ``chatapp.i18n``).

    Settings (``app.config``), with defaults in ``chatapp.config``:
    ``CHAT_MAX_MESSAGE_LENGTH``, ``CHAT_HISTORY_PAGE_SIZE``,
    ``CHAT_HISTORY_MAX_PAGE``, ``CHAT_RATE_LIMIT``, ``CHAT_ALLOWED_ORIGINS``,
    ``CHAT_MESSAGE_QUEUE``, ``CHAT_QUEUE_CHANNEL``, ``CHAT_URL_PREFIX``, ``CHAT_TABLE_PREFIX``,
    ``CHAT_NAMESPACE``, ``CHAT_USER_NAME_ATTR``, ``CHAT_PRESENCE_TTL``,
    ``CHAT_USER_SEARCH_LIMIT``, ``CHAT_GROUP_COMMIT``, ``CHAT_GROUP_COMMIT_MAX``,
    ``CHAT_SQLITE_SYNCHRONOUS``, ``CHAT_LANGUAGES``, ``CHAT_DEFAULT_LANGUAGE``,
    ``CHAT_UPLOAD_MAX_BYTES``, ``CHAT_UPLOAD_TYPES``, ``CHAT_UPLOAD_MAX_PIXELS``,
    ``CHAT_UPLOAD_STORAGE``, ``CHAT_UPLOAD_S3``, ``CHAT_SEARCH_SCAN_MAX``.
    """

    HOOKS = ("can_message", "display_name", "avatar_url", "search_users", "locale")

    def __init__(self, app=None, **kwargs):
        self.hooks = {}
        if app is not None:
            self.init_app(app, **kwargs)

    def can_message(self, fn):
        """Register ``fn(sender, recipient)``: may ``sender`` message ``recipient``?"""
        self.hooks["can_message"] = fn
        return fn

    def display_name(self, fn):
        """Register ``fn(user)``: the name chat shows for ``user``."""
        self.hooks["display_name"] = fn
        return fn

    def avatar_url(self, fn):
        """Register ``fn(user)``: the URL of ``user``'s picture."""
        self.hooks["avatar_url"] = fn
        return fn

    def search_users(self, fn):
        """Register ``fn(q, limit, exclude)``: the users whose name matches ``q``."""
        self.hooks["search_users"] = fn
        return fn

    def end_sessions(self, user_id, app=None):
        """Close every chat socket of ``user_id`` now, on every process.

        Call it when the user's sessions end other than by ``logout_user()``
        (which chat notices itself): a password change, a ban, "log out
        everywhere".
        """
        from flask import current_app

        from .realtime import disconnect_user
        app = app or current_app._get_current_object()
        disconnect_user(app.extensions["chat"], user_id)

    def forget_user(self, user_id, app=None):
        """Remove what chat keeps of ``user_id`` and close their sockets.

        Call it when your site deletes an account (before or after deleting
        the user's row): the user's group messages become tombstones that
        members hear of live and through ``sync``, their direct conversations
        go with every message and file in them (the other side gets
        ``conversation-removed``), they leave their groups (ownership passes
        on), and their blocks and uploads go.
        """
        from flask import current_app

        from . import services
        from .realtime import disconnect_user
        app = app or current_app._get_current_object()
        state = app.extensions["chat"]
        services.forget_user(state, user_id)
        disconnect_user(state, user_id)

    def locale(self, fn):
        """Register ``fn()``: the language the host chose for this request
        (``"zh-Hans"``, ``"en"``) or ``None``; it comes before chat's own choice."""
        self.hooks["locale"] = fn
        return fn

    def init_app(self, app, user_model=None, db=None, socketio=None, **hooks):
        # (uploads and search add their routes to the blueprint before it is registered)
        from . import headers, ops, presence, ratelimit, search, services, transport, uploads
        from .api import bp
        from .events import ChatNamespace
        from .state import ChatState
        from .store import MessageStore, open_engine

        _check_user_model(user_model)
        if "chat" in app.extensions:
            raise RuntimeError("Chat is already registered on this Flask app. "
                               "Import and use that instance instead.")
        unknown = set(hooks) - set(self.HOOKS)
        if unknown:
            raise TypeError(f"Unknown Chat hooks: {', '.join(sorted(unknown))}")
        for key, value in config.CHAT_DEFAULTS.items():
            app.config.setdefault(key, value)
        db = db or app.extensions.get("sqlalchemy")
        if db is None:
            db = SQLAlchemy()  # one per app: its metadata holds only this app's chat table
            db.init_app(app)
        socketio = socketio or app.extensions.get("socketio") or transport.make_socketio(app)
        transport.serve_in_order(socketio)
        ops.check_at_start(app)
        app.wsgi_app = transport.without_ws_compression(app.wsgi_app)

        def on_presence_change(user_id, online):
            with app.app_context():
                services.announce_presence(state, user_id, online)

        # A live view of the hooks, so those registered by decorator after Chat(app) still count.
        state = ChatState(app, db, socketio, user_model, ChainMap(hooks, self.hooks),
                          engine=open_engine(app, db),
                          presence=presence.make(app.config, on_presence_change),
                          limiter=ratelimit.make(app.config))
        state.store = MessageStore(state)
        app.extensions["chat"] = state
        uploads.init_app(app, state)
        search.init_app(app, state)
        socketio.on_namespace(ChatNamespace(state))
        app.register_blueprint(bp, url_prefix=state.url_prefix)
        from . import assets
        assets.init_app(app, bp.static_folder)
        _exempt_from_host_csrf(app, bp)
        headers.init_app(app, state)
        _close_sockets_on_logout(app, state)
        previous = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)
        app.register_error_handler(
            HTTPException, _json_errors_under(state.url_prefix + "/api/", previous))
        app.jinja_env.globals["chat_widget"] = _chat_widget
        from . import i18n
        app.jinja_env.globals["chat_locale"] = i18n.get_locale
        app.jinja_env.globals["chat_widget_catalogs"] = i18n.widget_catalogs
        app.jinja_env.globals["chat_language_choices"] = i18n.choices
        from .cli import chat_cli
        app.cli.add_command(chat_cli)
        return state


def _check_user_model(user_model):
    """Fail at startup, saying what to pass, unless ``user_model`` is a mapped class."""
    if user_model is None:
        raise TypeError("Chat needs the site's users: pass user_model=YourUser, "
                        "your user model (the class your LoginManager's user_loader returns).")
    try:
        sa.inspect(user_model).primary_key
    except (sa.exc.NoInspectionAvailable, AttributeError):
        raise TypeError(f"user_model={user_model!r} is not a SQLAlchemy model: pass the "
                        "mapped class (Flask-SQLAlchemy db.Model or a declarative "
                        "class) whose rows are your users.") from None


def _close_sockets_on_logout(app, state):
    """Whoever logs a user out with Flask-Login, that user's chat sockets close."""
    from flask_login import user_logged_out

    from .realtime import disconnect_user
    from .users import user_id as id_of

    def closed(sender, user=None, **extra):
        try:
            user_id = id_of(state, user) if getattr(user, "is_authenticated", False) else None
        except sa.exc.InvalidRequestError:  # a row deleted before the logout
            return
        if user_id is not None:
            disconnect_user(state, user_id)

    user_logged_out.connect(closed, app, weak=False)


def _exempt_from_host_csrf(app, bp):
    """Exempt the JSON-only chat API from the host's CSRFProtect.

    The 415 rule and the same-origin check guard it instead. The host may set
    up CSRFProtect after chat, so look again before each request.
    """
    def exempt():
        csrf = app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(bp)

    exempt()
    app.before_request(exempt)


def _json_errors_under(prefix, previous=None):
    """HTTP errors under the chat API answer in JSON; others go on as before."""
    def handler(exc):
        if request.path.startswith(prefix):
            return errors.http_response(exc)
        return previous(exc) if previous else exc
    return handler


def _chat_widget(mode="docked", **options):
    """The widget's tags; ``options`` (e.g. ``logout_url``) reach the template."""
    from flask import current_app, render_template
    from flask_login import current_user

    from .users import user_id as id_of

    # The user's chat id, not ``get_id()``: that may be an alternative token.
    user_id = id_of(current_app.extensions["chat"], current_user) \
        if current_user and current_user.is_authenticated else None
    return Markup(render_template("chat/widget.html", mode=mode, chat_user_id=user_id,
                                  **options))

