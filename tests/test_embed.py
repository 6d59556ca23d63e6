"""Chat embedded in bare host apps: their own users, login, db and Socket.IO."""
import logging

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string
from flask_login import LoginManager, UserMixin, login_user
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from chatapp import Chat

PEOPLE = [("p-alice", "Alice", "red"), ("bob.smith@example", "Bob", "red"),
          ("p-carol", "Carol", "blue")]


def host_app(path, str_ids=True, config=None, people=PEOPLE, socketio=None,
             before_chat=None, create=True, **chat_kwargs):
    """A host site with its own ``db``, ``Person`` model and ``LoginManager``."""
    db = SQLAlchemy()

    class Person(UserMixin, db.Model):
        __tablename__ = "people"
        id = db.Column(db.String(40) if str_ids else db.Integer, primary_key=True)
        nick = db.Column(db.String(40), nullable=False)
        team = db.Column(db.String(20), nullable=False)

    app = Flask(__name__)
    app.config.update(SECRET_KEY="host-secret", TESTING=True,
                      SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}",
                      SESSION_COOKIE_NAME="host_session", SOCKETIO_ASYNC_MODE="threading",
                      CHAT_RATE_LIMIT=0, **(config or {}))
    db.init_app(app)
    login = LoginManager(app)
    login.user_loader(lambda uid: db.session.get(Person, uid if str_ids else int(uid)))

    @app.get("/login/<uid>")
    def log_in(uid):
        login_user(db.session.get(Person, uid if str_ids else int(uid)))
        return "ok"

    if socketio is not None:
        socketio.init_app(app, async_mode="threading")
    if before_chat:
        before_chat(app)
    chat = chat_kwargs.pop("chat", None) or Chat()
    chat.init_app(app, user_model=Person, **chat_kwargs)
    with app.app_context():
        if create:
            db.create_all()
        for i, (pid, nick, team) in enumerate(people if create else (), start=1):
            db.session.add(Person(id=pid if str_ids else i, nick=nick, team=team))
        db.session.commit()
    app.db, app.Person = db, Person
    return app


def login(app, uid):
    client = app.test_client()
    assert client.get(f"/login/{uid}").status_code == 200
    return client


def socket(app, client, namespace="/chat"):
    sc = app.extensions["socketio"].test_client(app, namespace=namespace,
                                                flask_test_client=client)
    assert sc.is_connected(namespace)
    return sc


def events(sc, name, namespace="/chat"):
    # The test client keeps the payload of an event named "message" unwrapped.
    return [p["args"] if p["name"] == "message" else p["args"][0]
            for p in sc.get_received(namespace) if p["name"] == name]


def send(sc, to, content, **extra):
    return sc.emit("chat-to", {"to": to, "content": content, **extra},
                   namespace="/chat", callback=True)


def test_string_ids_end_to_end(tmp_path):
    app = host_app(tmp_path / "h.sqlite", config={"CHAT_USER_NAME_ATTR": "nick"})
    bob_id = "bob.smith@example"
    alice, bob = login(app, "p-alice"), login(app, bob_id)
    sa_, sb = socket(app, alice), socket(app, bob)
    assert alice.get("/chat/api/me").json["user"]["id"] == "p-alice"

    ack = send(sa_, bob_id, "hi bob", client_id="c-1")
    assert ack["ok"], ack
    msg = ack["message"]
    assert (msg["from"], msg["to"], msg["content"]) == ("p-alice", bob_id, "hi bob")
    assert events(sb, "message") == [msg]

    page = bob.get("/chat/api/conversations/p-alice/messages").json
    assert [m["id"] for m in page["messages"]] == [msg["id"]]
    assert page["other"]["id"] == "p-alice" and page["other"]["username"] == "Alice"
    convs = bob.get("/chat/api/conversations").json["conversations"]
    assert [(c["other"]["id"], c["unread"]) for c in convs] == [("p-alice", 1)]

    r = bob.post("/chat/api/conversations/p-alice/read", json={"up_to": msg["id"]})
    assert r.status_code == 204
    assert events(sa_, "read") == [{"by": bob_id, "with": "p-alice",
                                    "conversation": msg["conversation"], "up_to": msg["id"]}]
    ack = sb.emit("read", {"with": "p-alice", "up_to": msg["id"]}, namespace="/chat",
                  callback=True)
    assert ack == {"ok": True}
    avatar = alice.get(f"/chat/avatar/{bob_id}.svg")
    assert avatar.status_code == 200 and avatar.mimetype == "image/svg+xml"


def test_host_deletes_a_user_with_one_call(tmp_path):
    chat = Chat()
    app = host_app(tmp_path / "h.sqlite", chat=chat)
    bob_id = "bob.smith@example"
    alice, bob, carol = login(app, "p-alice"), login(app, bob_id), login(app, "p-carol")
    sa_, sb, sc = socket(app, alice), socket(app, bob), socket(app, carol)
    direct = send(sa_, bob_id, "hi bob")
    gid = alice.post("/chat/api/groups", json={"title": "Team", "members": [
        bob_id, "p-carol"]}).json["conversation"]["id"]
    said = sa_.emit("chat-to", {"conversation": gid, "content": "hi all"},
                    namespace="/chat", callback=True)
    assert direct["ok"] and said["ok"]
    sb.get_received("/chat"), sc.get_received("/chat")

    with app.app_context():
        chat.forget_user("p-alice")
        app.db.session.delete(app.db.session.get(app.Person, "p-alice"))
        app.db.session.commit()

    assert not sa_.is_connected("/chat")
    assert events(sb, "conversation-removed") == [{"id": direct["message"]["conversation"]}]
    assert [e["id"] for e in events(sc, "message-deleted")] == [said["message"]["id"]]
    assert bob.get("/chat/api/conversations").json == {"conversations": []}
    group = bob.get(f"/chat/api/groups/{gid}").json["conversation"]
    assert group["owner"] == bob_id and "p-alice" not in [m["id"] for m in group["members"]]
    page = carol.get(f"/chat/api/groups/{gid}/messages").json["messages"]
    assert [(m["id"], m["deleted"], m["content"]) for m in page] == [
        (said["message"]["id"], True, "")]


@pytest.mark.parametrize("bad_to", [2, None, "", ["p-alice"], True])
def test_string_id_host_refuses_other_id_types(tmp_path, bad_to):
    app = host_app(tmp_path / "h.sqlite")
    sc = socket(app, login(app, "bob.smith@example"))
    ack = send(sc, bad_to, "hi")
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert send(sc, "p-nobody", "hi")["error"]["code"] == "unknown_user"
    assert send(sc, "p-alice", "still connected")["ok"] is True


def test_integer_ids_host(tmp_path):
    app = host_app(tmp_path / "h.sqlite", str_ids=False)
    alice = login(app, "1")
    sc = socket(app, alice)
    assert send(sc, "2", "hi")["error"]["code"] == "invalid"
    ack = send(sc, 2, "hi")
    assert ack["ok"] and (ack["message"]["from"], ack["message"]["to"]) == (1, 2)
    page = alice.get("/chat/api/conversations/2/messages").json
    assert page["other"]["id"] == 2 and len(page["messages"]) == 1
    assert alice.get("/chat/api/conversations/x/messages").json["error"]["code"] \
        == "unknown_user"


def test_two_apps_in_one_process_stay_apart(tmp_path):
    a = host_app(tmp_path / "a.sqlite", config={"CHAT_MAX_MESSAGE_LENGTH": 8})
    b = host_app(tmp_path / "b.sqlite", config={"CHAT_URL_PREFIX": "/messages"})
    bob_id = "bob.smith@example"
    a_alice, a_bob = login(a, "p-alice"), login(a, bob_id)
    b_bob = login(b, bob_id)
    sa_, sab, sbb = socket(a, a_alice), socket(a, a_bob), socket(b, b_bob)

    assert send(sa_, bob_id, "hello")["ok"]
    assert send(sa_, bob_id, "far too long here")["error"]["code"] == "too_long"
    assert [m["content"] for m in events(sab, "message")] == ["hello"]
    assert events(sbb, "message") == []
    assert b_bob.get("/messages/api/conversations").json == {"conversations": []}
    assert b_bob.get("/messages/api/conversations/p-alice/messages").json["messages"] == []
    assert b_bob.get("/chat/api/me").status_code == 404
    assert len(a_bob.get("/chat/api/conversations").json["conversations"]) == 1
    assert socket(b, login(b, "p-alice")).emit(
        "chat-to", {"to": bob_id, "content": "far too long here"},
        namespace="/chat", callback=True)["ok"]


def test_can_message_enforced_on_send_and_search(tmp_path):
    chat = Chat()

    @chat.can_message
    def same_team(sender, recipient):
        return sender.team == recipient.team

    app = host_app(tmp_path / "h.sqlite", chat=chat, config={"CHAT_USER_NAME_ATTR": "nick"})
    alice, carol = login(app, "p-alice"), login(app, "p-carol")
    sa_, sc = socket(app, alice), socket(app, carol)

    ack = send(sa_, "p-carol", "hi carol")
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    assert sa_.emit("typing", {"to": "p-carol"}, namespace="/chat",
                    callback=True)["error"]["code"] == "forbidden"
    assert events(sc, "message") == [] and events(sc, "typing") == []
    assert alice.get("/chat/api/conversations").json["conversations"] == []
    r = alice.post("/chat/api/conversations/p-carol/read", json={"up_to": 1})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"

    found = alice.get("/chat/api/users").json["users"]
    assert [u["id"] for u in found] == ["bob.smith@example"]
    assert alice.get("/chat/api/users?q=car").json["users"] == []
    assert carol.get("/chat/api/users").json["users"] == []
    assert send(sa_, "bob.smith@example", "hi bob")["ok"] is True


def test_single_app_form_and_late_decorator_hooks(tmp_path):
    db = SQLAlchemy()

    class Member(UserMixin, db.Model):
        handle = db.Column(db.String(20), primary_key=True)
        shown = db.Column(db.String(40))

        def get_id(self):
            return self.handle

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/s.db",
                      SOCKETIO_ASYNC_MODE="threading")
    db.init_app(app)
    LoginManager(app).user_loader(lambda h: db.session.get(Member, h))
    chat = Chat(app, user_model=Member)

    @chat.display_name
    def shown(member):
        return member.shown.upper()

    @chat.avatar_url
    def picture(member):
        return f"/img/{member.handle}.png"

    @app.get("/in/<h>")
    def log_in(h):
        login_user(db.session.get(Member, h))
        return "ok"

    with app.app_context():
        db.create_all()
        db.session.add(Member(handle="ann", shown="Ann Lee"))
        db.session.commit()
    client = app.test_client()
    client.get("/in/ann")
    assert client.get("/chat/api/me").json["user"] == {
        "id": "ann", "username": "ANN LEE", "avatar": "/img/ann.png"}


def test_user_model_errors_say_what_to_do():
    with pytest.raises(TypeError, match=r"user_model=.*your user model"):
        Chat().init_app(Flask(__name__))

    class NotAModel:
        pass

    with pytest.raises(TypeError, match="SQLAlchemy model"):
        Chat().init_app(Flask(__name__), user_model=NotAModel)


def test_host_socketio_reused_and_its_namespaces_still_work(tmp_path):
    socketio = SocketIO()

    @socketio.on("echo", namespace="/host")
    def echo(data):
        return {"echo": data}

    @socketio.on("shout")
    def shout(data):
        socketio.emit("heard", data)

    app = host_app(tmp_path / "h.sqlite", socketio=socketio)
    assert app.extensions["socketio"] is socketio
    alice, bob = login(app, "p-alice"), login(app, "bob.smith@example")
    client = socket(app, alice, namespace="/host")
    client.connect(namespace="/chat")
    client.connect(namespace="/")
    sb = socket(app, bob)
    assert client.emit("echo", "ping", namespace="/host", callback=True) == {"echo": "ping"}
    assert send(client, "bob.smith@example", "from the host's socket")["ok"]
    assert [m["content"] for m in events(sb, "message")] == ["from the host's socket"]
    client.emit("shout", {"x": 1})
    assert {"x": 1} in events(client, "heard", namespace="/")
    anon = socketio.test_client(app, namespace="/chat", flask_test_client=app.test_client())
    assert not anon.is_connected("/chat")


def test_custom_url_and_table_prefix(tmp_path):
    app = host_app(tmp_path / "h.sqlite", config={
        "CHAT_URL_PREFIX": "/talk", "CHAT_TABLE_PREFIX": "forum_chat_"})
    alice = login(app, "p-alice")
    me = alice.get("/talk/api/me").json["user"]
    assert me["avatar"] == "/talk/avatar/p-alice.svg"
    assert alice.get("/chat/api/me").status_code == 404
    assert app.test_client().get("/talk/api/conversations").json["error"]["code"] \
        == "unauthorized"
    assert send(socket(app, alice), "bob.smith@example", "hi")["ok"]
    with app.app_context():
        engine = app.db.engine
        tables = sa.inspect(engine).get_table_names()
        assert "forum_chat_message" in tables and "chat_message" not in tables
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT sender_id, content FROM forum_chat_message"))
            assert rows.all() == [("p-alice", "hi")]
    with app.test_request_context("/"):
        page = render_template_string("<main>{{ chat_widget() }}</main>")
    assert 'id="chat-widget"' in page and 'data-prefix="/talk"' in page
    assert "/talk/static/chat.js" in page


def test_chat_widget_renders_on_host_pages(tmp_path):
    app = host_app(tmp_path / "h.sqlite")

    @app.get("/profile")
    def profile():
        return render_template_string(
            "<a data-chat-with=\"p-alice\">Message</a>{{ chat_widget() }}")

    body = login(app, "bob.smith@example").get("/profile").get_data(as_text=True)
    assert 'id="chat-widget"' in body and 'data-prefix="/chat"' in body
    assert "/chat/static/vendor/socket.io.min.js" in body


@pytest.mark.parametrize("order", ["csrf first", "chat first"])
def test_host_csrf_protect_stays_on_and_chat_api_works(tmp_path, order):
    csrf = CSRFProtect()
    config = {"WTF_CSRF_ENABLED": True}
    if order == "csrf first":
        app = host_app(tmp_path / "h.sqlite", config=config, before_chat=csrf.init_app)
    else:
        app = host_app(tmp_path / "h.sqlite", config=config)
        csrf.init_app(app)
    app.add_url_rule("/note", "note", lambda: "saved", methods=["POST"])
    alice, bob = login(app, "p-alice"), login(app, "bob.smith@example")
    assert alice.post("/note", data={"text": "x"}).status_code == 400
    msg = send(socket(app, alice), "bob.smith@example", "hi")["message"]
    assert bob.post("/chat/api/conversations/p-alice/read", json={"up_to": msg["id"]}) \
        .status_code == 204
    r = bob.post("/chat/api/conversations/p-alice/read", data={"up_to": msg["id"]})
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"


# Flask-Migrate's generated env.py still calls Flask-SQLAlchemy's get_engine().
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_tables_in_host_metadata_for_create_all_and_alembic(tmp_path, monkeypatch):
    # The generated env.py runs logging.config.fileConfig, which disables every
    # logger already made ("chatapp" included); put it back when the test ends.
    monkeypatch.setattr(logging.getLogger("chatapp"), "disabled", False)
    app = host_app(tmp_path / "h.sqlite", create=False,
                   config={"CHAT_TABLE_PREFIX": "site_chat_"})
    assert "site_chat_message" in app.db.metadata.tables
    migrations = str(tmp_path / "migrations")
    flask_migrate.Migrate(app, app.db, directory=migrations)
    with app.app_context():
        flask_migrate.init(directory=migrations)
        flask_migrate.migrate(directory=migrations, message="first")
        flask_migrate.upgrade(directory=migrations)
        tables = sa.inspect(app.db.engine).get_table_names()
    (script,) = (tmp_path / "migrations" / "versions").glob("*.py")
    assert "site_chat_message" in script.read_text()
    assert {"people", "site_chat_message", "alembic_version"} <= set(tables)


@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_host_migrations_leave_chat_tables_to_chat_revisions(tmp_path, monkeypatch):
    """The recommended set-up: the host's autogenerate skips chat's tables and
    `flask chat db-upgrade` runs chat's own revisions beside the host's."""
    from chatapp.migrate import skip_chat_tables

    # As above: the generated env.py's fileConfig disables the "chatapp" logger.
    monkeypatch.setattr(logging.getLogger("chatapp"), "disabled", False)

    app = host_app(tmp_path / "h.sqlite", create=False,
                   config={"CHAT_TABLE_PREFIX": "site_chat_"})
    migrations = str(tmp_path / "migrations")
    flask_migrate.Migrate(app, app.db, directory=migrations,
                          include_object=skip_chat_tables("site_chat_"))
    with app.app_context():
        flask_migrate.init(directory=migrations)
        flask_migrate.migrate(directory=migrations, message="host only")
        flask_migrate.upgrade(directory=migrations)
    (script,) = (tmp_path / "migrations" / "versions").glob("*.py")
    assert "people" in script.read_text() and "site_chat_" not in script.read_text()
    result = app.test_cli_runner().invoke(args=["chat", "db-upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(sa.inspect(app.db.engine).get_table_names())
    assert {"people", "alembic_version", "site_chat_alembic_version", "site_chat_message",
            "site_chat_conversation", "site_chat_member"} <= tables
    with app.app_context():
        for pid, nick, team in PEOPLE:
            app.db.session.add(app.Person(id=pid, nick=nick, team=team))
        app.db.session.commit()
    alice, bob = login(app, "p-alice"), login(app, "bob.smith@example")
    msg = send(socket(app, alice), "bob.smith@example", "after both migrations")["message"]
    assert bob.get("/chat/api/conversations/p-alice/messages").json["messages"] == [msg]


def plain_host(path, str_ids):
    """A host with no Flask-SQLAlchemy: chat makes its own ``db``."""
    class Base(DeclarativeBase):
        pass

    class Account(UserMixin, Base):
        __tablename__ = "accounts"
        id: Mapped[str if str_ids else int] = mapped_column(primary_key=True)
        username: Mapped[str]

    engine = sa.create_engine(f"sqlite:///{path}")
    Account.__table__.create(engine)
    ids = ["u-a", "u-b"] if str_ids else [1, 2]
    with Session(engine) as s:
        s.add_all([Account(id=ids[0], username="ann"), Account(id=ids[1], username="ben")])
        s.commit()
    engine.dispose()
    app = Flask(__name__)
    app.config.update(SECRET_KEY="p", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}",
                      SOCKETIO_ASYNC_MODE="threading")
    Chat(app, user_model=Account)
    db = app.extensions["sqlalchemy"]
    cast = str if str_ids else int
    LoginManager(app).user_loader(lambda uid: db.session.get(Account, cast(uid)))
    app.add_url_rule("/login/<uid>", "login", lambda uid: login_user(
        db.session.get(Account, cast(uid))) and "ok")
    return app, ids


def test_chat_makes_its_own_db_per_app(tmp_path):
    apps = [plain_host(tmp_path / "s.sqlite", True), plain_host(tmp_path / "i.sqlite", False)]
    for app, (me, other) in apps:
        result = app.test_cli_runner().invoke(args=["chat", "init-db"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            tables = set(sa.inspect(app.extensions["sqlalchemy"].engine).get_table_names())
        assert "chat_message" in tables and "users" not in tables
        ack = send(socket(app, login(app, me)), other, "hello")
        assert ack["ok"] and ack["message"]["to"] == other, ack
    assert apps[0][0].extensions["sqlalchemy"] is not apps[1][0].extensions["sqlalchemy"]
