"""The forum's app factory; the tagged lines are all it takes to add chat."""
import os
import secrets

from flask import Flask

from chatapp import Chat  # [chat]

from .events import ForumNamespace
from .extensions import csrf, db, login_manager, socketio
from .models import Member

chat = Chat()  # [chat]
socketio.on_namespace(ForumNamespace("/forum"))


@chat.can_message  # [chat]
def accepts_messages(sender, recipient):  # [chat] members may turn messages off
    return recipient.accepts_messages  # [chat]


@login_manager.user_loader
def load_member(member_id):
    return db.session.get(Member, member_id)


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True,
                instance_path=os.environ.get("FORUM_INSTANCE_PATH") or None)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI="sqlite:///forum.sqlite",  # inside the instance folder
        SESSION_COOKIE_NAME="forum_session",
        SESSION_COOKIE_SAMESITE="Lax",
        CHAT_USER_NAME_ATTR="display_name",  # [chat] the name members see
        CHAT_TABLE_PREFIX="forum_chat_",  # [chat] beside the forum's own tables
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        # Without a configured key sessions last until the process restarts.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "forum.login"
    csrf.init_app(app)
    socketio.init_app(app, async_mode=app.config.get("SOCKETIO_ASYNC_MODE"))
    chat.init_app(app, user_model=Member, db=db, socketio=socketio)  # [chat]

    from .views import bp
    app.register_blueprint(bp)
    with app.app_context():
        db.create_all()  # a real site runs its migrations: flask db upgrade
    return app
