"""Chat's Alembic revisions: a release 0.1 database, with messages in it, is
upgraded on SQLite, PostgreSQL and MariaDB, then served with nothing lost."""
import contextlib
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import release_0_1
from chatapp import create_app, migrate
from helpers import SeededAuth
from realservices import mariadb_database, postgres_database


@contextlib.contextmanager
def sqlite_database(tmp_path):
    yield f"sqlite:///{tmp_path / 'old.sqlite'}"


DATABASES = {"sqlite": sqlite_database, "postgresql": lambda _: postgres_database(),
             "mariadb": lambda _: mariadb_database()}
NAMES = ["ann", "ben", "cat", "dan"]


def release_0_1_database(uri):
    """A database as release 0.1 left it: its tables, users, 60 messages
    between several pairs (some read, some with client ids). Returns the
    messages as stored, by id."""
    engine = sa.create_engine(uri)
    md = release_0_1.metadata()
    md.create_all(engine)
    users, messages = md.tables["users"], md.tables["chat_message"]
    start = datetime(2026, 1, 2, 3, 4, 5, 678000)
    rows = []
    pairs = [(1, 2), (2, 1), (1, 3), (3, 4), (4, 3), (2, 3)]
    for i in range(60):
        s, r = pairs[i % len(pairs)]
        rows.append({"sender_id": s, "recipient_id": r, "content": f"old message {i} 😀",
                     "sent_at": start + timedelta(seconds=i),
                     "client_id": f"c-{i}" if i % 3 == 0 else None,
                     "read_at": start + timedelta(minutes=5) if i < 20 else None})
    with engine.begin() as conn:
        conn.execute(users.insert(), [
            {"id": n + 1, "username": name, "username_key": name, "password_hash": "x",
             "created_at": start} for n, name in enumerate(NAMES)])
        conn.execute(messages.insert(), rows)
        stored = {r.id: r for r in conn.execute(sa.select(messages))}
    engine.dispose()
    return stored


def make_app(uri, **extra):
    return create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": uri,
                       "SOCKETIO_ASYNC_MODE": "threading", "CHAT_RATE_LIMIT": 0, **extra})


def login(app, user_id):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True
    return client


def dispose(app):
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.mark.parametrize("db", list(DATABASES))
def test_release_0_1_database_upgrades_and_serves_every_message(tmp_path, db):
    with DATABASES[db](tmp_path) as uri:
        old = release_0_1_database(uri)
        # A site that upgrades by hand: the app starts on the old schema...
        app = make_app(uri, CHAT_MIGRATE_ON_START=False)
        state = app.extensions["chat"]
        with app.app_context():
            assert migrate.current(state) is None
        # ...and `flask db upgrade` (Flask-Migrate, chat's packaged revisions) runs.
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            assert migrate.current(state) == migrate.head()
        dispose(app)

        app = make_app(uri)  # served by a fresh process's app
        try:
            served = {}
            for me in range(1, 5):
                client = login(app, me)
                convs = client.get("/chat/api/conversations").json["conversations"]
                for conv in convs:
                    assert conv["kind"] == "direct" and isinstance(conv["id"], int)
                    other = conv["other"]["id"]
                    url = f"/chat/api/conversations/{other}/messages?limit=100"
                    page = client.get(url).json
                    assert page["has_more"] is False
                    for m in page["messages"]:
                        assert m["conversation"] == conv["id"] and m["rev"] >= m["id"]
                        served[m["id"]] = m
            assert set(served) == set(old)  # every old message, none invented
            # The old messages are in the search index (3+ characters use it).
            found = login(app, 1).get("/chat/api/search?q=message 1&limit=100").json
            assert sorted(r["message"]["id"] for r in found["results"]) == sorted(
                mid for mid, r in old.items() if "message 1" in r.content
                and 1 in (r.sender_id, r.recipient_id))
            for mid, row in old.items():
                m = served[mid]
                assert (m["from"], m["to"], m["content"], m["client_id"]) == \
                    (row.sender_id, row.recipient_id, row.content, row.client_id)
                assert m["sent_at"] == row.sent_at.isoformat(timespec="milliseconds") + "Z"
                assert (m["read_at"] is None) == (row.read_at is None)
                assert m["deleted"] is False and m["edited_at"] is None
            # One conversation per pair, whichever way its messages went.
            by_pair = {}
            for m in served.values():
                by_pair.setdefault(frozenset((m["from"], m["to"])), set()).add(m["conversation"])
            assert all(len(ids) == 1 for ids in by_pair.values())
            assert len({next(iter(v)) for v in by_pair.values()}) == len(by_pair) == 4
            # Unread counts survive: ann's unread messages are the old ones to her not read.
            convs = login(app, 1).get("/chat/api/conversations").json["conversations"]
            unread = {}
            for r in old.values():
                if r.recipient_id == 1 and r.read_at is None:
                    unread[r.sender_id] = unread.get(r.sender_id, 0) + 1
            assert unread[2] == 6
            assert {c["other"]["id"]: c["unread"] for c in convs} == {2: 6, 3: 0}
            # New messages join the old conversation with a higher rev.
            ann = login(app, 1)
            sock = app.extensions["socketio"].test_client(app, namespace="/chat",
                                                          flask_test_client=ann)
            ack = sock.emit("chat-to", {"to": 2, "content": "after the upgrade"},
                            namespace="/chat", callback=True)
            assert ack["ok"], ack
            assert ack["message"]["conversation"] == served[1]["conversation"]
            assert ack["message"]["rev"] > max(m["rev"] for m in served.values())
            # A resend of a client_id stored by 0.1 is still answered with its row.
            again = sock.emit("chat-to", {"to": 2, "content": "old message 0 😀",
                                          "client_id": "c-0"}, namespace="/chat", callback=True)
            assert again["duplicate"] is True and again["message"]["id"] == min(old)
            sync = ann.get("/chat/api/sync?since=0&limit=500").json
            assert {m["id"] for m in sync["messages"]} >= {m for m, r in old.items()
                                                            if 1 in (r.sender_id, r.recipient_id)}
            sock.disconnect(namespace="/chat")
        finally:
            dispose(app)


@pytest.mark.parametrize("start", ["0.1", "empty"])
@pytest.mark.parametrize("db", list(DATABASES))
def test_revisions_make_the_schema_create_all_makes(tmp_path, db, start):
    """Upgrading from 0.1 and from nothing both end at the models' schema."""
    with DATABASES[db](tmp_path) as uri:
        if start == "0.1":
            release_0_1_database(uri)
        else:
            engine = sa.create_engine(uri)
            with engine.begin() as conn:
                command.upgrade(migrate.alembic_config(
                    connection=conn, chat_settings=migrate.settings_for(owns_users=True)),
                    "head")
            engine.dispose()
        app = make_app(uri)  # the standalone app upgrades at start by default
        state = app.extensions["chat"]
        try:
            with app.app_context():
                assert migrate.current(state) == migrate.head()
                with state.engine.connect() as conn:
                    diff = compare_metadata(MigrationContext.configure(
                        conn, opts={"compare_type": False, "version_table": "chat_alembic_version"}),
                        state.db.metadata)
            assert [d for d in diff if not _ignorable(d)] == []
            with state.engine.connect() as conn:  # and the search index is there
                assert state.searcher.indexed(conn) is (db != "mariadb")
        finally:
            dispose(app)


def _ignorable(diff):
    # The search index lives outside the models (chatapp.search): an FTS5
    # table and its shadow tables on SQLite, a pg_trgm index on PostgreSQL.
    if isinstance(diff, tuple) and (
            diff[0] == "remove_table" and diff[1].name.startswith("chat_message_fts")
            or diff[0] == "remove_index" and diff[1].name == "ix_chat_message_content_trgm"):
        return True
    # The users table's unique constraint is named by each database; both are unique.
    return isinstance(diff, tuple) and diff[0] in ("add_constraint", "remove_constraint",
                                                   "add_index", "remove_index") \
        and getattr(diff[1], "table", None) is not None and diff[1].table.name == "users"


def test_fresh_database_is_created_at_head_and_downgrade_returns_to_0_1(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.sqlite'}"
    app = make_app(uri)
    state = app.extensions["chat"]
    try:
        with app.app_context():
            assert migrate.current(state) == migrate.head()
            SeededAuth(app).register("zed")
            command.downgrade(migrate.alembic_config(state), migrate.BASELINE)
            cols = {c["name"] for c in sa.inspect(state.engine).get_columns("chat_message")}
            assert "conversation_id" not in cols and "rev" not in cols
            migrate.upgrade(state)
            assert migrate.current(state) == migrate.head()
    finally:
        dispose(app)


def test_host_runs_chat_revisions_with_its_own_version_table(tmp_path):
    """A host whose chat tables came from create_all at 0.1: `flask chat db-upgrade`
    adopts them and upgrades, beside the host's own alembic_version."""
    uri = f"sqlite:///{tmp_path / 'host.sqlite'}"
    old = release_0_1_database(uri)
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('host_rev_7')")
    engine.dispose()
    app = make_app(uri, CHAT_MIGRATE_ON_START=False)
    try:
        result = app.test_cli_runner().invoke(args=["chat", "db-upgrade"])
        assert result.exit_code == 0, result.output
        assert "stamped 0001_baseline_0_1" in result.output
        with app.app_context():
            state = app.extensions["chat"]
            with state.engine.connect() as conn:
                assert conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version").scalar() == "host_rev_7"
                count = conn.execute(sa.select(sa.func.count()).select_from(state.table))
                assert count.scalar() == len(old)
            assert migrate.current(state) == migrate.head()
        again = app.test_cli_runner().invoke(args=["chat", "db-upgrade"])
        assert again.exit_code == 0 and "stamped" not in again.output
    finally:
        dispose(app)


_STARTER = """
import sys, time
from chatapp import create_app
at, uri = float(sys.argv[1]), sys.argv[2]
time.sleep(max(0.0, at - time.time()))
app = create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": uri,
                  "SOCKETIO_ASYNC_MODE": "threading"})
print("started", flush=True)
"""


@pytest.mark.parametrize("db", list(DATABASES))
def test_processes_starting_together_upgrade_once(tmp_path, db):
    """Four processes of the standalone app start at the same moment on a
    release 0.1 database (upgrade at start is on): one upgrades, the others
    wait for it, and all of them start; every message is kept once."""
    import subprocess
    import sys
    import time
    with DATABASES[db](tmp_path) as uri:
        old = release_0_1_database(uri)
        at = time.time() + 4
        procs = [subprocess.Popen([sys.executable, "-c", _STARTER, str(at), uri],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0 and "started" in out, err[-3000:]
        app = make_app(uri, CHAT_MIGRATE_ON_START=False)
        try:
            state = app.extensions["chat"]
            with app.app_context():
                assert migrate.current(state) == migrate.head()
            with state.engine.connect() as conn:
                t = state.table
                ids = list(conn.execute(sa.select(t.c.id)).scalars())
                convs = conn.execute(sa.select(sa.func.count()).select_from(
                    state.tables["conversation"])).scalar()
            assert sorted(ids) == sorted(old) and convs == 4
        finally:
            dispose(app)
