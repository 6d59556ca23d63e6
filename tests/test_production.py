"""Production serving on each server: SIGTERM draining, green database drivers,
operations checks."""
import shutil
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pymysql
import pytest
import requests

from helpers import ROOT, LiveServer, free_port
from realservices import (MYSQL_ADMIN, ChatClient, mariadb_database, postgres_database,
                          queue_env, redis_corner)
from servers import PRODUCTION, Server

pytestmark = pytest.mark.server


@pytest.fixture
def servers(live_server_factory):
    def make(kind="eventlet", **kw):
        return live_server_factory(Server, kind=kind, **kw)
    return make


def stop_with_sigterm(server, within=15):
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(within)
    return code, time.monotonic() - started


@pytest.mark.parametrize("kind", PRODUCTION)
def test_serves_chat_and_drains_on_sigterm(servers, tmp_path, kind):
    server = servers(kind, db_uri=f"sqlite:///{tmp_path / 'g.sqlite'}")
    a, b = server.register("alice"), server.register("bob")
    ca = ChatClient(server.url, a)
    cb = ChatClient(server.url, b, ("polling",))
    ack = ca.send(b.user, "top secret words")
    assert ack["ok"] and ack["delivered"] is True
    assert cb.expect("message")["content"] == "top secret words"

    code, took = stop_with_sigterm(server)
    assert code == 0 and took < 12, (code, took)
    deadline = time.monotonic() + 5
    while (ca.sio.connected or cb.sio.connected) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ca.sio.connected and not cb.sio.connected
    log = server.log.read_text()
    assert f"user {a.user['id']} connected" in log and "disconnected" in log
    assert "chat drained" in log
    assert "top secret words" not in log  # never message text in the logs


@pytest.mark.parametrize("kind", PRODUCTION)
def test_sigterm_loses_nothing_acknowledged(servers, kind):
    with postgres_database() as db_uri:
        first = servers(kind, db_uri=db_uri)
        a, b = first.register("alice"), first.register("bob")
        client = ChatClient(first.url, a)
        acked, failed, after_term, attempted = {}, [], [], []
        term_sent = threading.Event()

        def send_all():
            # Send until the server closes the socket (bounded), so the test
            # does not depend on how many sends fit into the grace period.
            deadline = time.monotonic() + 30
            for i in range(20_000):
                cid = f"c-{i}"
                attempted.append(cid)
                try:
                    ack = client.send(b.user, f"message {i}", client_id=cid, timeout=5)
                except Exception:
                    failed.append(cid)
                    return
                assert ack["ok"], ack
                acked[cid] = ack["message"]
                if term_sent.is_set():
                    after_term.append(cid)
                if time.monotonic() > deadline:
                    return

        sender = threading.Thread(target=send_all)
        sender.start()
        while len(acked) < 20:
            time.sleep(0.01)
        term_sent.set()
        code, took = stop_with_sigterm(first)
        sender.join(60)
        assert code == 0 and took < 10, (code, took)
        assert after_term, "sends in flight at SIGTERM got no ack during the grace period"
        assert failed, "the server should have closed the socket"

        # The client reconnects elsewhere and retries what it never saw acked.
        second = servers(db_uri=db_uri)
        a2 = requests.Session()
        assert a2.post(second.url + "/auth/login",
                       json={"username": "alice", "password": "password123"}).ok
        a2.user = a.user
        retry = ChatClient(second.url, a2)
        for cid in failed:
            i = int(cid[2:])
            ack = retry.send(b.user, f"message {i}", client_id=cid)
            assert ack["ok"], ack
        r = a2.get(f"{second.url}/chat/api/conversations/{b.user['id']}/messages?limit=100&after=0")
        stored, has_more = r.json()["messages"], r.json()["has_more"]
        while has_more:
            r = a2.get(f"{second.url}/chat/api/conversations/{b.user['id']}/messages"
                       f"?limit=100&after={stored[-1]['id']}")
            stored += r.json()["messages"]
            has_more = r.json()["has_more"]
        by_cid = {m["client_id"]: m for m in stored}
        assert len(by_cid) == len(stored) == len(attempted)  # each exactly once
        for cid, message in acked.items():
            assert by_cid[cid] == message  # everything acknowledged is there, unchanged
        retry.close()


def _hold_row_lock(kind, db_uri, message_id, seconds, locked):
    """Lock one message row for ``seconds`` from outside the app."""
    name = db_uri.rsplit("/", 1)[1].split("?")[0]
    if kind == "postgresql":
        conn = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}")
    else:
        conn = pymysql.connect(**MYSQL_ADMIN, database=name)
    try:
        with conn.cursor() as cur:  # both drivers take %s placeholders
            cur.execute("SELECT id FROM chat_message WHERE id = %s FOR UPDATE", (message_id,))
            locked.set()
            time.sleep(seconds)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("server_kind", PRODUCTION)
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_slow_database_call_does_not_stall_other_users(servers, kind, server_kind):
    make_db = postgres_database if kind == "postgresql" else mariadb_database
    with make_db() as db_uri:
        server = servers(server_kind, db_uri=db_uri)
        a, b, c, d = (server.register(n) for n in ("alice", "bob", "carol", "dave"))
        ca, cb, cc, cd = (ChatClient(server.url, s) for s in (a, b, c, d))
        slow_row = cb.send(a.user, "to be read")["message"]["id"]
        assert cc.send(d.user, "warm up")["ok"]

        locked = threading.Event()
        holder = threading.Thread(target=_hold_row_lock,
                                  args=(kind, db_uri, slow_row, 2.0, locked))
        holder.start()
        assert locked.wait(10)
        read_result = {}

        def slow_read():
            started = time.monotonic()
            read_result["ack"] = ca.call("read", {"with": b.user["id"], "up_to": slow_row},
                                         timeout=20)
            read_result["took"] = time.monotonic() - started

        reader = threading.Thread(target=slow_read)
        reader.start()
        time.sleep(0.3)  # alice's read now waits on the locked row inside the server
        latencies = []
        for i in range(5):
            started = time.monotonic()
            assert cc.send(d.user, f"quick {i}")["ok"]
            cd.expect("message", lambda m, i=i: m["content"] == f"quick {i}", timeout=5)
            latencies.append(time.monotonic() - started)
        holder.join(10)
        reader.join(20)
        assert read_result["ack"] == {"ok": True}
        assert read_result["took"] > 1.2, read_result  # the slow call really was slow
        assert max(latencies) < 0.5, latencies  # and nobody else waited for it
        for client in (ca, cb, cc, cd):
            client.close()


def test_start_up_fails_clearly_when_the_queue_is_unreachable(tmp_path):
    port = free_port()
    env = {**LiveServer(tmp_path).env, "FLASK_CHAT_MESSAGE_QUEUE":
           f"redis://:s3cret@127.0.0.1:{port}/0"}
    out = subprocess.run([sys.executable, str(ROOT / "wsgi.py"), "--port", str(free_port())],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"redis://:***@127.0.0.1:{port}/0" in out.stderr
    assert "CHAT_MESSAGE_QUEUE" in out.stderr and "s3cret" not in out.stderr


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_healthz_reports_database_and_queue(servers, tmp_path):
    port = free_port()
    own_redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        with redis_corner() as (_, channel):
            server = servers(env=queue_env(f"redis://127.0.0.1:{port}/0", channel),
                             db_uri=f"sqlite:///{tmp_path / 'h.sqlite'}")
            r = requests.get(server.url + "/chat/healthz", timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["ok"] is True
            assert set(r.json()["checks"]) == {"database", "queue"}

            own_redis.terminate()
            own_redis.wait(10)
            r = requests.get(server.url + "/chat/healthz", timeout=10)
            assert r.status_code == 503
            body = r.json()
            assert body["ok"] is False and body["checks"]["queue"]["ok"] is False
            assert body["checks"]["database"]["ok"] is True
    finally:
        if own_redis.poll() is None:
            own_redis.kill()
        own_redis.wait(10)
