"""Two real servers sharing real Redis and PostgreSQL chat as one, on eventlet,
gevent and threading (``flask run``) in turn.

Users on different processes exchange messages, presence, typing and read
receipts over both transports; a process killed with SIGKILL does not leave
its users online; a separate process sends through the queue.
"""
import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from helpers import ROOT
from servers import Server
from realservices import ChatClient, postgres_database, queue_env, redis_corner

pytestmark = pytest.mark.server


def name(prefix):
    return f"{prefix}{uuid.uuid4().hex[:6]}"


class Cluster:
    def __init__(self, tmp_path, db_uri, env, size=2, kind="eventlet"):
        self.env = env
        self.db_uri = db_uri
        self.servers = [Server(tmp_path, kind=kind, env=env, db_uri=db_uri).start()
                        for _ in range(size)]
        self.clients = []

    def connect(self, server, session, transports=("websocket",)):
        client = ChatClient(server.url, session, transports)
        self.clients.append(client)
        return client

    def close(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        for s in self.servers:
            s.stop()


@pytest.fixture(scope="module", params=["eventlet", "gevent", "threading"])
def cluster(tmp_path_factory, request):
    with postgres_database() as db_uri, redis_corner() as (url, channel):
        c = Cluster(tmp_path_factory.mktemp("scale"), db_uri, queue_env(url, channel),
                    kind=request.param)
        try:
            yield c
        finally:
            c.close()


@pytest.mark.parametrize("transports", [
    (("websocket",), ("polling",)),
    (("polling",), ("polling",)),
    (("polling", "websocket"), ("websocket",)),
], ids=["ws-polling", "polling-polling", "upgrade-ws"])
def test_users_on_different_processes_chat(cluster, transports):
    s1, s2 = cluster.servers
    a, b = s1.register(name("a")), s2.register(name("b"))
    ca = cluster.connect(s1, a, transports[0])
    cb = cluster.connect(s2, b, transports[1])

    ack = ca.send(b.user, "hello from process one 🎉", client_id="c1")
    assert ack["ok"] and ack["delivered"] is True
    got = cb.expect("message", lambda m: m["id"] == ack["message"]["id"])
    assert got == ack["message"]
    assert got["content"] == "hello from process one 🎉"

    back = cb.send(a.user, "and back from two")
    assert back["ok"] and back["delivered"] is True
    assert ca.expect("message")["content"] == "and back from two"

    # Both processes read the same store.
    r = requests.get(f"{s2.url}/chat/api/conversations/{a.user['id']}/messages", cookies=b.cookies)
    assert [m["content"] for m in r.json()["messages"]] == [
        "hello from process one 🎉", "and back from two"]


def test_multi_tab_fan_out_across_processes(cluster):
    s1, s2 = cluster.servers
    a, b = s1.register(name("a")), s1.register(name("b"))
    tab1 = cluster.connect(s1, a)
    tab2 = cluster.connect(s2, a, ("polling",))
    cb = cluster.connect(s2, b)

    ack = tab1.send(b.user, "from tab one")
    assert ack["ok"]
    assert cb.expect("message")["id"] == ack["message"]["id"]
    # The sender's other tab, on the other process, sees its own message...
    assert tab2.expect("message")["id"] == ack["message"]["id"]
    # ...and the tab that sent it gets only the ack.
    assert not [e for e in tab1.drain(wait=1.0) if e[0] == "message"]


def test_delivered_follows_connections_on_any_process(cluster):
    s1, s2 = cluster.servers
    a, b = s1.register(name("a")), s2.register(name("b"))
    ca = cluster.connect(s1, a)
    assert ca.send(b.user, "you are away")["delivered"] is False

    cb = cluster.connect(s2, b, ("polling",))
    assert ca.send(b.user, "now you are here")["delivered"] is True
    cb.close()
    deadline = time.monotonic() + 5
    while ca.send(b.user, "gone again?")["delivered"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ca.send(b.user, "gone again")["delivered"] is False


def test_presence_typing_and_read_across_processes(cluster):
    s1, s2 = cluster.servers
    a, b = s1.register(name("a")), s2.register(name("b"))
    ca = cluster.connect(s1, a)
    first = ca.send(b.user, "a conversation")["message"]

    cb1 = cluster.connect(s2, b)
    assert ca.expect("presence") == {"user_id": b.user["id"], "online": True}
    online = requests.get(f"{s1.url}/chat/api/conversations", cookies=a.cookies).json()
    assert online["conversations"][0]["other"]["online"] is True

    assert cb1.call("typing", {"to": a.user["id"]}) == {"ok": True}
    assert ca.expect("typing") == {"from": b.user["id"], "conversation": first["conversation"]}

    # A read over HTTP on process one reaches both users, wherever they are.
    r = requests.post(f"{s2.url}/chat/api/conversations/{a.user['id']}/read",
                      json={"up_to": first["id"]}, cookies=b.cookies)
    assert r.status_code == 204
    receipt = {"by": b.user["id"], "with": a.user["id"], "conversation": first["conversation"],
               "up_to": first["id"]}
    assert ca.expect("read") == receipt
    assert cb1.expect("read") == receipt

    # A second tab on the other process: closing one tab keeps b online.
    cb2 = cluster.connect(s1, b, ("polling",))
    cb1.close()
    assert not [e for e in ca.drain(wait=1.5) if e[0] == "presence"]
    cb2.close()
    assert ca.expect("presence") == {"user_id": b.user["id"], "online": False}


def test_disconnect_user_reaches_every_process(cluster):
    """Deleting an account closes its sockets on other processes too."""
    s1, s2 = cluster.servers
    a = s1.register(name("a"))
    c1, c2 = cluster.connect(s1, a), cluster.connect(s2, a, ("polling",))
    r = requests.delete(f"{s1.url}/auth/account", cookies=a.cookies)
    if r.status_code == 404:
        pytest.fail("no account deletion endpoint to exercise disconnect_user")
    assert r.status_code in (200, 204), r.text
    deadline = time.monotonic() + 8
    while (c1.sio.connected or c2.sio.connected) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not c1.sio.connected and not c2.sio.connected


def test_a_deleted_account_is_heard_of_on_every_process(cluster):
    """Deleting an account on one process: members on the other get its group
    messages deleted and its direct conversation removed."""
    s1, s2 = cluster.servers
    a, b = s1.register(name("da")), s2.register(name("db"))
    ca, cb = cluster.connect(s1, a), cluster.connect(s2, b, ("polling",))
    gid = requests.post(f"{s1.url}/chat/api/groups", cookies=a.cookies, timeout=5, json={
        "title": "Soon gone", "members": [b.user["id"]]}).json()["conversation"]["id"]
    said = ca.call("chat-to", {"conversation": gid, "content": "in the group"})["message"]
    direct = ca.call("chat-to", {"to": b.user["id"], "content": "just us"})["message"]
    cb.expect("message", lambda m: m["id"] == direct["id"])
    r = requests.delete(f"{s1.url}/auth/account", cookies=a.cookies, json={}, timeout=10)
    assert r.status_code == 204, r.text
    assert cb.expect("message-deleted", lambda e: e["id"] == said["id"])["conversation"] == gid
    assert cb.expect("conversation-removed") == {"id": direct["conversation"]}


SENDER = """
import json, os, sys
from chatapp import create_app
from chatapp.external import ExternalProcess
chat = ExternalProcess(create_app())
ack = chat.send_message(int(sys.argv[1]), int(sys.argv[2]), "from a background job",
                        client_id="job-1")
again = chat.send_message(int(sys.argv[1]), int(sys.argv[2]), "from a background job",
                          client_id="job-1")
chat.send_notice(int(sys.argv[2]), "maintenance <b>tonight</b>")
print(json.dumps([ack, again]))
"""


def test_another_process_sends_through_the_queue(cluster, tmp_path):
    s1, s2 = cluster.servers
    a, b = s1.register(name("a")), s2.register(name("b"))
    cb = cluster.connect(s2, b, ("polling",))
    env = {**s1.env, "CHATAPP_INSTANCE_PATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", SENDER, str(a.user["id"]), str(b.user["id"])],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ack, again = json.loads(out.stdout.strip().splitlines()[-1])
    assert ack["ok"] and ack["delivered"] is True
    assert again["duplicate"] is True and again["message"]["id"] == ack["message"]["id"]
    assert cb.expect("message")["id"] == ack["message"]["id"]
    assert cb.expect("notice") == {"text": "maintenance <b>tonight</b>"}
    assert not [e for e in cb.drain(wait=0.5) if e[0] == "message"]  # the retry emitted nothing


def test_presence_heals_after_a_process_is_killed(tmp_path):
    ttl = 3
    with postgres_database() as db_uri, redis_corner() as (url, channel):
        c = Cluster(tmp_path, db_uri, queue_env(url, channel, ttl=ttl))
        try:
            s1, s2 = c.servers
            a, b = s1.register(name("a")), s2.register(name("b"))
            ca = c.connect(s1, a)
            ca.send(b.user, "hello")
            c.connect(s2, b, ("polling",))
            assert ca.expect("presence") == {"user_id": b.user["id"], "online": True}

            killed_at = time.monotonic()
            s2.stop(signal.SIGKILL)
            assert ca.expect("presence", timeout=ttl * 4) == {
                "user_id": b.user["id"], "online": False}
            healed_in = time.monotonic() - killed_at
            assert healed_in < ttl * 3, healed_in
            r = requests.get(f"{s1.url}/chat/api/conversations", cookies=a.cookies)
            assert r.json()["conversations"][0]["other"]["online"] is False
            assert ca.send(b.user, "still there?")["delivered"] is False
        finally:
            c.close()


def test_group_fan_out_and_removal_across_processes(cluster):
    """Members on both processes get group messages; a removed member's tabs on
    every process stop at once, while the others keep receiving."""
    s1, s2 = cluster.servers
    a, b, c = s1.register(name("ga")), s2.register(name("gb")), s1.register(name("gc"))
    ca = cluster.connect(s1, a)
    cb1, cb2 = cluster.connect(s1, b), cluster.connect(s2, b, ("polling",))
    cc1, cc2 = cluster.connect(s1, c), cluster.connect(s2, c)
    r = requests.post(f"{s2.url}/chat/api/groups", cookies=a.cookies, timeout=5, json={
        "title": "Both processes", "members": [b.user["id"], c.user["id"]]})
    assert r.status_code == 201, r.text
    gid = r.json()["conversation"]["id"]
    for cl in (ca, cb1, cb2, cc1, cc2):
        assert cl.expect("conversation", lambda e: e["id"] == gid)["title"] == "Both processes"
    msg = ca.call("chat-to", {"conversation": gid, "content": "to all"})["message"]
    for cl in (cb1, cb2, cc1, cc2):
        assert cl.expect("message", lambda m: m["id"] == msg["id"]) == msg

    # removed over HTTP on process two; carol's tabs on both processes hear it
    r = requests.delete(f"{s2.url}/chat/api/groups/{gid}/members/{c.user['id']}",
                        cookies=a.cookies, timeout=5)
    assert r.status_code == 204
    for cl in (cc1, cc2):
        assert cl.expect("conversation-removed") == {"id": gid}
    cc1.drain(), cc2.drain()
    after = cb2.call("chat-to", {"conversation": gid, "content": "carol left"})["message"]
    edit = ca.call("edit", {"id": msg["id"], "content": "to all (edited)"})["message"]
    for cl in (ca, cb1):
        cl.expect("message", lambda m: m["id"] == after["id"])
    cb2.expect("message-edited", lambda m: m["id"] == edit["id"])
    cb1.expect("message-edited", lambda m: m["id"] == edit["id"])
    leaked = [e for e in cc1.drain(1.0) + cc2.drain() if e[0] != "presence"]
    assert leaked == []
    r = requests.get(f"{s1.url}/chat/api/groups/{gid}", cookies=c.cookies, timeout=5)
    assert r.status_code == 404


def test_rate_limit_budget_is_shared_by_processes(tmp_path):
    """CHAT_RATE_LIMIT counts a user's sends on every process: with a queue
    the counts live in Redis, so a second process gives no fresh budget."""
    with postgres_database() as db_uri, redis_corner() as (url, channel):
        env = {**queue_env(url, channel), "FLASK_CHAT_RATE_LIMIT": "3"}
        c = Cluster(tmp_path, db_uri, env)
        try:
            s1, s2 = c.servers
            a, b = s1.register(name("a")), s1.register(name("b"))
            on_one, on_two = c.connect(s1, a), c.connect(s2, a)
            acks = [on_one.send(b.user, "one"), on_two.send(b.user, "two"),
                    on_one.send(b.user, "three")]
            assert [ack["ok"] for ack in acks] == [True, True, True]
            for tab in (on_two, on_one):
                ack = tab.send(b.user, "over budget")
                assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
            other = c.connect(s2, b)  # another user's budget is untouched
            assert other.send(a.user, "hi")["ok"] is True
        finally:
            c.close()
