"""The standalone app: a small host site with its own users that embeds chat."""
import os
import secrets

from flask import Flask, redirect, render_template, url_for
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect

from . import config, headers
from .accounts import User
from .models import db

login_manager = LoginManager()
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(user_id):
    return User.by_session_id(user_id)


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


def build(test_config=None):
    from . import Chat

    app = Flask("chatapp", instance_relative_config=True,
                instance_path=os.environ.get("CHATAPP_INSTANCE_PATH") or None)
    app.config.from_mapping(config.STANDALONE_DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    if app.config.get("CHAT_HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = True
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = \
            "sqlite:///" + os.path.join(app.instance_path, "chatapp.sqlite")

    db.init_app(app)
    headers.protect_pages(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login_page"
    csrf.init_app(app)
    Chat().init_app(app, user_model=User, db=db)
    from . import throttle
    app.extensions["login_throttle"] = throttle.make(app.config)

    from . import auth
    app.register_blueprint(auth.bp)
    for view in (auth.api_register, auth.api_login, auth.api_logout, auth.api_delete_account,
                 auth.api_change_password):
        csrf.exempt(view)  # JSON: guarded by the 415 rule and the same-origin check

    @app.get("/")
    def index():
        """The chat page."""
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login_page"))
        return render_template("chat/index.html")

    with app.app_context():
        db.create_all()  # no separate init step on a fresh machine
    app.extensions["chat"].engine  # tune SQLite before the first request
    return app
