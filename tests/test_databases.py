"""The service layer and JSON API on each supported database, chosen by URL alone.

SQLite (file, WAL), PostgreSQL through psycopg 3 and MariaDB through PyMySQL,
each a real server on loopback with a fresh database per test.
"""
import pytest
import sqlalchemy as sa

from chatapp import create_app
from dbapps import chat_app, sqlite_database
from realservices import mariadb_database, postgres_database

EMOJI = "ok 😀 👩🏽‍💻 𠜎 🇺🇳"


DATABASES = {"sqlite": sqlite_database, "postgresql": lambda _: postgres_database(),
             # A latin1 default proves chat's own table keeps 4-byte characters.
             "mariadb": lambda _: mariadb_database(charset="latin1")}


@pytest.fixture(params=list(DATABASES))
def app(request, tmp_path):
    """Overrides conftest's ``app``: the same app on each database server."""
    with chat_app(request.param, tmp_path, DATABASES) as app:
        yield app


def test_dialect_follows_the_url(app):
    engine = app.extensions["chat"].engine
    expected = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}
    scheme = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0]
    assert engine.dialect.name in (expected[scheme], "mariadb")
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_four_byte_characters_survive(auth, app):
    a, b = auth.register("alice"), auth.register("bob")
    sa_ = auth.socket(a)
    long = "😀" * app.config["CHAT_MAX_MESSAGE_LENGTH"]
    for content in (EMOJI, long):
        ack = sa_.emit("chat-to", {"to": b.user["id"], "content": content}, namespace="/chat",
                       callback=True)
        assert ack["ok"], ack
        assert ack["message"]["content"] == content
    too_long = sa_.emit("chat-to", {"to": b.user["id"], "content": long + "😀"},
                        namespace="/chat", callback=True)
    assert too_long["error"]["code"] == "too_long"
    r = b.get(f"/chat/api/conversations/{a.user['id']}/messages")
    assert [m["content"] for m in r.json["messages"]] == [EMOJI, long]
    # Read back with a raw query too, not only through chat's own code.
    table = app.extensions["chat"].table
    with app.extensions["chat"].engine.connect() as conn:
        stored = conn.execute(sa.select(table.c.content).order_by(table.c.id)).scalars().all()
    assert stored == [EMOJI, long]


def test_history_pages_and_catch_up(auth):
    a, b = auth.register("alice"), auth.register("bob")
    sock = auth.socket(a)
    ids = [sock.emit("chat-to", {"to": b.user["id"], "content": f"m{i}"}, namespace="/chat",
                     callback=True)["message"]["id"] for i in range(7)]
    url = f"/chat/api/conversations/{a.user['id']}/messages"
    page = b.get(url + "?limit=3").json
    assert [m["content"] for m in page["messages"]] == ["m4", "m5", "m6"]
    assert page["has_more"] is True
    older = b.get(url + f"?limit=3&before={ids[4]}").json
    assert [m["id"] for m in older["messages"]] == ids[1:4] and older["has_more"] is True
    newer = b.get(url + f"?limit=4&after={ids[1]}").json
    assert [m["id"] for m in newer["messages"]] == ids[2:6] and newer["has_more"] is True
    assert b.get(url + "?limit=x").status_code == 400


def test_conversations_and_read(auth):
    a, b, c = auth.register("alice"), auth.register("bob"), auth.register("carol")
    sb, sc = auth.socket(b), auth.socket(c)
    first = sb.emit("chat-to", {"to": a.user["id"], "content": "one"}, namespace="/chat",
                    callback=True)["message"]
    sb.emit("chat-to", {"to": a.user["id"], "content": "two"}, namespace="/chat", callback=True)
    sc.emit("chat-to", {"to": a.user["id"], "content": "hi"}, namespace="/chat", callback=True)
    convs = a.get("/chat/api/conversations").json["conversations"]
    assert [(x["other"]["username"], x["unread"], x["last_message"]["content"])
            for x in convs] == [("carol", 1, "hi"), ("bob", 2, "two")]

    r = a.post(f"/chat/api/conversations/{b.user['id']}/read", json={"up_to": first["id"]})
    assert r.status_code == 204
    convs = {x["other"]["username"]: x["unread"] for x in
             a.get("/chat/api/conversations").json["conversations"]}
    assert convs == {"carol": 1, "bob": 1}
    msgs = a.get(f"/chat/api/conversations/{b.user['id']}/messages").json["messages"]
    assert msgs[0]["read_at"] is not None and msgs[0]["read_at"].endswith("Z")
    assert msgs[1]["read_at"] is None
    # Only one's own conversations: carol sees nothing of alice and bob.
    assert [x["other"]["username"] for x in c.get("/chat/api/conversations").json[
        "conversations"]] == ["alice"]


def test_client_id_is_idempotent_per_sender(auth, app):
    a, b = auth.register("alice"), auth.register("bob")
    sa_, sb = auth.socket(a), auth.socket(b)
    payload = {"to": b.user["id"], "content": "once", "client_id": "c-1"}
    first = sa_.emit("chat-to", payload, namespace="/chat", callback=True)
    again = sa_.emit("chat-to", payload, namespace="/chat", callback=True)
    assert again["duplicate"] is True and again["message"] == first["message"]
    other = sb.emit("chat-to", {"to": a.user["id"], "content": "mine", "client_id": "c-1"},
                    namespace="/chat", callback=True)
    assert other["ok"] and other["message"]["id"] != first["message"]["id"]
    table = app.extensions["chat"].table
    with app.extensions["chat"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 2


def test_names_unique_regardless_of_case_and_search_escapes(auth, client):
    auth.register("Alice")
    r = client.post("/auth/register", json={"username": "aLICE", "password": "password123"})
    assert r.status_code == 409 and r.json["error"]["code"] == "taken"
    bob = auth.register("bob_1")
    auth.register("bobx1")
    found = bob.get("/chat/api/users?q=_").json["users"]
    assert [u["username"] for u in found] == []  # "_" is a character, not a wildcard
    assert [u["username"] for u in bob.get("/chat/api/users?q=ALI").json["users"]] == ["Alice"]


def test_sync_misses_nothing_with_concurrent_writers_on_two_apps(app, tmp_path):
    """Writers on two apps (two engines, two group-commit writers, as two server
    processes) send and edit while a reader follows ``sync``: it ends with every
    message in its final state, so no rev was ever committed below one it had seen."""
    import threading

    from chatapp import services
    from helpers import SeededAuth

    auth = SeededAuth(app)
    a, b = auth.register("alice"), auth.register("bob")
    ida, idb = a.user["id"], b.user["id"]
    other = create_app({"TESTING": True, "SECRET_KEY": "test", "SOCKETIO_ASYNC_MODE": "threading",
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "CHAT_RATE_LIMIT": 0})
    states = [app.extensions["chat"], other.extensions["chat"]]
    stop = threading.Event()
    errors = []

    def write(n):
        state = states[n % 2]
        try:
            with state.app.app_context():
                for i in range(25):
                    sender, to = (ida, idb) if i % 2 else (idb, ida)
                    m = services.send_message(state, sender, {"to": to, "content": f"{n}-{i}"})
                    if i % 3 == 0:
                        services.edit_message(state, sender, m["message"]["id"],
                                              {"content": f"{n}-{i} edited"})
        except Exception as exc:  # reported below
            errors.append(exc)

    seen, cursor = {}, 0

    def read():
        nonlocal cursor
        state = states[0]
        with state.app.app_context():
            while True:
                done = stop.is_set()
                messages, rev, has_more = services.sync(state, ida, cursor, 1000)
                for m in messages:
                    assert m["rev"] > cursor
                    seen[m["id"]] = m
                cursor = rev
                if done and not has_more:
                    return

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    reader = threading.Thread(target=read)
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join(60)
    try:
        assert not errors, errors
        t = states[0].table
        with states[0].engine.connect() as conn:
            final = {r.id: (r.rev, r.content) for r in conn.execute(sa.select(t))}
        assert len(final) == 100
        assert {i: (m["rev"], m["content"]) for i, m in seen.items()} == final
        assert len({rev for rev, _ in final.values()}) == 100
    finally:
        with other.app_context():
            other.extensions["sqlalchemy"].engine.dispose()
