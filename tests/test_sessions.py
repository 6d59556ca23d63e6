"""Sessions that really end: a copied cookie stops working after logout, a
password change or deletion, over HTTP and sockets, on one and on two processes."""
import time
import uuid

import pytest
import sqlalchemy as sa
import requests
import socketio

from helpers import PASSWORD, LiveServer, running
from realservices import ChatClient, postgres_database, queue_env, redis_corner
from test_embed import host_app, login, socket


def copy_of(app, client):
    """A new client holding a copy of ``client``'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def socket_refused(auth, client):
    sio = auth.app.extensions["socketio"]
    sc = sio.test_client(auth.app, namespace="/chat", flask_test_client=client)
    return not sc.is_connected("/chat")


def test_copied_cookie_refused_after_logout(auth, app):
    alice = auth.register("alice")
    thief = copy_of(app, alice)
    assert thief.get("/chat/api/me").status_code == 200
    auth.socket(thief)
    assert alice.post("/auth/logout").status_code == 204
    r = thief.get("/chat/api/me")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert socket_refused(auth, thief)
    # Logging in again gives a new session that works; the copy stays dead.
    r = alice.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert alice.get("/chat/api/me").status_code == 200
    assert thief.get("/chat/api/me").status_code == 401


def test_logout_form_ends_every_session(auth, app):
    from test_auth import csrf_token
    alice = auth.register("alice")
    other_device = copy_of(app, alice)
    r = alice.post("/logout", data={"csrf_token": csrf_token(alice, "/login")})
    assert r.status_code == 302
    assert other_device.get("/chat/api/me").status_code == 401


def test_password_change_ends_other_sessions_and_keeps_this_one(auth, app):
    alice = auth.register("alice")
    thief = copy_of(app, alice)
    tab = auth.socket(thief)
    r = alice.post("/auth/password", json={"password": "wrong-password",
                                           "new_password": "a new password"})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert thief.get("/chat/api/me").status_code == 200
    r = alice.post("/auth/password", json={"password": PASSWORD, "new_password": "short"})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"
    r = alice.post("/auth/password", json={"password": PASSWORD,
                                           "new_password": "a new password"})
    assert r.status_code == 204
    assert alice.get("/chat/api/me").status_code == 200
    auth.socket(alice)
    assert thief.get("/chat/api/me").status_code == 401
    assert not tab.is_connected("/chat")
    assert socket_refused(auth, thief)
    fresh = app.test_client()
    assert fresh.post("/auth/login", json={"username": "alice",
                                           "password": PASSWORD}).status_code == 401
    assert fresh.post("/auth/login", json={"username": "alice",
                                           "password": "a new password"}).status_code == 200


def test_password_change_needs_login(client):
    r = client.post("/auth/password", json={"password": PASSWORD, "new_password": "x" * 9})
    assert r.status_code == 401


def test_copied_cookie_of_a_deleted_user_never_names_the_next_user(auth, app):
    auth.register("alice")
    bob = auth.register("bob")
    thief = copy_of(app, bob)
    assert bob.delete("/auth/account").status_code == 204
    carol = auth.register("carol")
    assert carol.user["id"] == bob.user["id"]  # SQLite gives the freed id again
    r = thief.get("/chat/api/me")
    assert r.status_code == 401
    assert socket_refused(auth, thief)


def test_sessions_from_before_generations_stay_until_the_first_end(auth, app):
    from chatapp.standalone.models import User, db
    alice = auth.register("alice")
    with app.app_context():
        user = db.session.get(User, alice.user["id"])
        user.session_gen = 0  # as the migration leaves existing users
        db.session.commit()
    old = app.test_client()
    with old.session_transaction() as sess:
        sess["_user_id"] = str(alice.user["id"])  # the bare id of a 0.1 session
        sess["_fresh"] = True
    assert old.get("/chat/api/me").status_code == 200
    again = copy_of(app, old)
    assert old.post("/auth/logout").status_code == 204
    assert again.get("/chat/api/me").status_code == 401


def test_host_ends_a_users_sockets_with_one_call(tmp_path):
    from chatapp import Chat
    chat = Chat()
    app = host_app(tmp_path / "h.sqlite", chat=chat)

    @app.post("/ban/<uid>")
    def ban(uid):
        chat.end_sessions(uid)
        return "", 204

    tabs = [socket(app, login(app, "p-alice")), socket(app, login(app, "p-alice"))]
    carol = socket(app, login(app, "p-carol"))
    assert login(app, "p-carol").post("/ban/p-alice").status_code == 204
    assert not any(t.is_connected("/chat") for t in tabs)
    assert carol.is_connected("/chat")


def test_host_alternative_ids_are_honoured(tmp_path):
    """A host whose ``get_id()`` changes with the password: chat refuses the old token."""
    app = host_app(tmp_path / "h.sqlite")
    tokens = {"p-alice": "p-alice|1"}
    lm = app.login_manager
    lm.user_loader(lambda token: app.db.session.get(app.Person, token.split("|")[0])
                   if tokens.get(token.split("|")[0]) == token else None)
    app.Person.get_id = lambda self: tokens[self.id]
    alice = login(app, "p-alice")
    assert alice.get("/chat/api/me").json["user"]["id"] == "p-alice"
    tokens["p-alice"] = "p-alice|2"  # the host revoked the sessions
    assert alice.get("/chat/api/me").status_code == 401
    sc = app.extensions["socketio"].test_client(app, namespace="/chat",
                                                flask_test_client=alice)
    assert not sc.is_connected("/chat")


# -- two real processes, Redis and PostgreSQL ---------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with postgres_database() as db_uri, redis_corner() as (url, channel):
        tmp = tmp_path_factory.mktemp("sessions")
        with running(LiveServer(tmp, env=queue_env(url, channel), db_uri=db_uri)
                     for _ in range(2)) as servers:
            yield servers


def stolen(session):
    thief = requests.Session()
    thief.cookies.set("session", session.cookies.get("session"))
    thief.user = session.user
    return thief


def wait_disconnected(client, within=10):
    deadline = time.monotonic() + within
    while client.sio.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    return not client.sio.connected


def connect_refused(server, session):
    """True when the server refuses the socket with CONNECT_ERROR ``unauthorized``."""
    sio = socketio.Client(reconnection=False)
    errors = []
    sio.on("connect_error", errors.append, namespace="/chat")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    try:
        sio.connect(server.url, headers={"Cookie": cookie}, namespaces=["/chat"],
                    transports=["polling"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return errors == [{"message": "unauthorized"}]
    finally:
        sio.disconnect()
    return False


@pytest.mark.server
@pytest.mark.parametrize("end", ["logout", "password", "delete"])
def test_copied_cookie_dies_on_every_process(pair, end):
    s1, s2 = pair
    name = f"u{uuid.uuid4().hex[:8]}"
    owner = s1.register(name)
    thief = stolen(owner)
    assert requests.get(s2.url + "/chat/api/me", cookies=thief.cookies).status_code == 200
    tabs = [ChatClient(s2.url, thief, ("websocket",)), ChatClient(s2.url, thief, ("polling",))]
    try:
        if end == "logout":
            r = owner.post(s1.url + "/auth/logout", json={})
        elif end == "password":
            r = owner.post(s1.url + "/auth/password",
                           json={"password": PASSWORD, "new_password": "another password"})
        else:
            r = owner.delete(s1.url + "/auth/account")
        assert r.status_code == 204
        assert all(wait_disconnected(t) for t in tabs)
        for server in pair:
            assert thief.get(server.url + "/chat/api/me").status_code == 401
            assert connect_refused(server, thief)
    finally:
        for t in tabs:
            t.close()


# -- the session generation's revision -----------------------------------------

@pytest.mark.parametrize("db", ["sqlite", "postgresql", "mariadb"])
def test_0_1_database_upgrades_and_its_sessions_end_on_logout(tmp_path, db):
    """Users of a 0.1 database get generation 0: their sessions (bare ids) go
    on after the upgrade, and end for good at the first logout."""
    from test_migrations import DATABASES, dispose, make_app, release_0_1_database
    from test_migrations import login as old_session

    from chatapp import migrate
    with DATABASES[db](tmp_path) as uri:
        release_0_1_database(uri)
        app = make_app(uri)  # the standalone site runs the revisions at start
        state = app.extensions["chat"]
        try:
            with app.app_context():
                assert migrate.current(state) == migrate.head() == "0004_session_generation"
                with state.engine.connect() as conn:
                    gens = conn.execute(sa.text("SELECT session_gen FROM users")).scalars().all()
                assert gens == [0, 0, 0, 0]
            ann = old_session(app, 1)  # the cookie ann had before the upgrade
            copy = copy_of(app, ann)
            assert ann.get("/chat/api/me").json["user"]["username"] == "ann"
            assert ann.post("/auth/logout").status_code == 204
            assert copy.get("/chat/api/me").status_code == 401
            assert old_session(app, 1).get("/chat/api/me").status_code == 401
            assert old_session(app, 2).get("/chat/api/me").status_code == 200  # ben's goes on
            with app.app_context():
                with state.engine.connect() as conn:
                    gen = conn.execute(sa.text(
                        "SELECT session_gen FROM users WHERE id = 1")).scalar()
            assert gen != 0  # a new random generation
        finally:
            dispose(app)
