"""The standalone demo site: a small host with its own users, login and
database that embeds chat like any other host (``flask run``)."""
import os
import secrets
from urllib.parse import urlsplit

from flask import Flask, redirect, render_template, request, url_for
from flask_babel import Babel
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError

from .. import i18n, migrate
from ..extension import Chat
from .models import User, db, search_users

#: The site's settings (chat's own ``CHAT_*`` defaults are ``chatapp.config``).
DEFAULTS = {
    "SQLALCHEMY_DATABASE_URI": None,  # filled with instance/chatapp.sqlite
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": None,
    # One process on a fresh clone: `flask run` upgrades its own database. Sites
    # that start several processes at once turn it off and run `flask db upgrade`.
    "CHAT_MIGRATE_ON_START": True,
    # Request bodies: the site's own are small JSON; chatapp.serving.RequestLimits
    # answers a larger Content-Length with 413 before the body is read.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}

login_manager = LoginManager()
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(user_id):
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def _secret_key(app):
    """A dev key made once and kept in instance/; production sets its own."""
    path = os.path.join(app.instance_path, "secret_key")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


def create_app(test_config=None):
    """The standalone chat site: its own users and login, chat embedded."""
    app = Flask("chatapp", instance_relative_config=True,
                instance_path=os.environ.get("CHATAPP_INSTANCE_PATH") or None)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = \
            "sqlite:///" + os.path.join(app.instance_path, "chatapp.sqlite")

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login_page"
    csrf.init_app(app)
    state = Chat().init_app(app, user_model=User, db=db, search_users=search_users)
    state.owns_user_table = True  # chat's revisions make the users table too
    Migrate(app, db, directory=migrate.DIRECTORY)  # `flask db upgrade` runs chat's revisions
    # The site's own pages speak chat's catalog in the language chat picks.
    Babel(app, locale_selector=i18n.babel_selector, default_domain=i18n.DOMAIN,
          default_translation_directories=i18n.TRANSLATIONS)

    @app.context_processor
    def languages():
        return {"chat_languages": [(t, i18n.language_name(t)) for t in i18n.offered(app)]}

    @app.errorhandler(CSRFError)
    def form_expired(exc):
        """A form without its token (expired, or sent from elsewhere): said in the
        visitor's language, with a way back, instead of werkzeug's English page."""
        return render_template(
            "chat/error.html", heading=i18n.gettext("Please try again"),
            message=i18n.gettext("This form has expired or did not come from this site. "
                                 "Reload the page and send it again."),
            back=request.path if request.path in ("/login", "/register") else url_for("index")), 400

    @app.post("/language")
    def set_language():
        """The language switcher: remember the choice in the ``chat_lang`` cookie."""
        tag = i18n.match(request.form.get("lang"), i18n.offered(app))
        target = request.form.get("next") or url_for("index")
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
            target = url_for("index")  # only back to this site
        response = redirect(target)
        if tag:
            response.set_cookie(i18n.COOKIE, tag, max_age=365 * 24 * 3600, samesite="Lax",
                                httponly=False, secure=request.is_secure)
        return response

    from . import auth, cli
    app.register_blueprint(auth.bp)
    app.cli.add_command(cli.chat_cli)  # chat's commands and the site's own
    for view in (auth.api_register, auth.api_login, auth.api_logout, auth.api_delete_account):
        csrf.exempt(view)  # JSON: guarded by the 415 rule and the same-origin check

    @app.get("/")
    def index():
        """The chat page."""
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login_page"))
        return render_template("chat/index.html")

    with app.app_context():
        # A new database is created at the newest revision: nothing to set up.
        migrate.prepare(state, migrate=app.config["CHAT_MIGRATE_ON_START"])
    return app
