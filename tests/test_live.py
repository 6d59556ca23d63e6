"""The real servers (eventlet, gevent, gunicorn's gevent worker, ``flask run``)
driven by python-socketio clients.

Every socket of a test is closed at its end; the servers live for the module,
one kind after the other.
"""
import itertools
import threading

import pytest
import requests
import socketio

from helpers import close_client
from servers import KINDS, Server

pytestmark = pytest.mark.server
NS = "/chat"
TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"],
              "upgrade": ["polling", "websocket"]}
_names = itertools.count()


@pytest.fixture(scope="module", params=KINDS)
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def server(tmp_path_factory, kind):
    s = Server(tmp_path_factory.mktemp("live"), kind=kind).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, kind):
    """A server with a rate limit of 5 and one extra allowed origin."""
    s = Server(tmp_path_factory.mktemp("strict"), kind=kind, env={
        "FLASK_CHAT_RATE_LIMIT": "5",
        "FLASK_CHAT_ALLOWED_ORIGINS": '["http://allowed.example"]'}).start()
    yield s
    s.stop()


def cookie(session):
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def client_for(transports, headers):
    """A Socket.IO client and the headers to connect with.

    websocket-client sends an ``Origin`` header of its own, so on the websocket
    transport the origin to test goes there instead of adding a second header.
    """
    headers = dict(headers or {})
    extra = {}
    if list(transports) == ["websocket"] and "Origin" in headers:
        extra["websocket_extra_options"] = {"origin": headers.pop("Origin")}
    return socketio.Client(reconnection=False, **extra), headers


def new_user(server, prefix="u"):
    return server.register(f"{prefix}{next(_names)}")


class Tab:
    """One browser tab: a Socket.IO client on /chat that records what it receives."""

    def __init__(self, server, session=None, transports=("polling", "websocket"),
                 headers=None):
        self.events = []
        self.closed = threading.Event()
        self.connect_error = None
        self._cond = threading.Condition()
        self.sio, hdrs = client_for(transports, headers)
        for name in ("message", "presence", "typing", "read", "message-edited",
                     "message-deleted", "conversation", "conversation-removed"):
            self.sio.on(name, self._recorder(name), namespace=NS)
        self.sio.on("connect_error", self._on_connect_error, namespace=NS)
        self.sio.on("disconnect", lambda *a: self.closed.set(), namespace=NS)
        if session is not None:
            hdrs["Cookie"] = cookie(session)
        self.sio.connect(server.url, namespaces=[NS], transports=list(transports),
                         headers=hdrs, wait_timeout=5)

    def _recorder(self, name):
        def record(data):
            with self._cond:
                self.events.append((name, data))
                self._cond.notify_all()
        return record

    def _on_connect_error(self, data):
        self.connect_error = data

    def call(self, event, data):
        return self.sio.call(event, data, namespace=NS, timeout=5)

    def send(self, to, content, **extra):
        ack = self.call("chat-to", {"to": to, "content": content, **extra})
        assert ack["ok"] is True, ack
        return ack

    def got(self, name):
        with self._cond:
            return [d for n, d in self.events if n == name]

    def wait_for(self, name, pred=lambda d: True, timeout=5):
        """The first ``name`` payload matching ``pred``, waiting at most ``timeout``."""
        def find():
            return next((d for n, d in self.events if n == name and pred(d)), None)
        with self._cond:
            assert self._cond.wait_for(find, timeout), (name, self.events)
            return find()

    def forget(self):
        """Drop what was received so far."""
        with self._cond:
            self.events.clear()

    def close(self):
        close_client(self.sio)


@pytest.fixture
def tabs():
    """``open(...)`` makes a Tab; every tab is closed after the test."""
    made = []

    def open_tab(*args, **kw):
        tab = Tab(*args, **kw)
        made.append(tab)
        return tab
    yield open_tab
    for tab in made:
        tab.close()


def refused(server, transports=("polling", "websocket"), headers=None):
    """Try to connect; return the client's error and the connect_error data."""
    sio, headers = client_for(transports, headers)
    seen = []
    sio.on("connect_error", lambda data: seen.append(data), namespace=NS)
    with pytest.raises(socketio.exceptions.ConnectionError) as exc:
        sio.connect(server.url, namespaces=[NS], wait_timeout=5,
                    transports=list(transports), headers=headers)
    sio.disconnect()
    return exc.value, seen


ORIGIN_REFUSED = "Not an accepted origin."


def assert_origin_refused(server, session, transport, origin):
    """A logged-in client from ``origin`` is refused for its origin (Engine.IO's
    check, before chat's namespace), not for its login."""
    headers = {"Cookie": cookie(session), "Origin": origin}
    _, seen = refused(server, transports=[transport], headers=headers)
    # The WebSocket client reports only "Connection error"; the handshake says why.
    assert seen == [ORIGIN_REFUSED if transport == "polling" else "Connection error"]
    if transport == "websocket":
        headers.update({"Connection": "Upgrade", "Upgrade": "websocket",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                        "Sec-WebSocket-Version": "13"})
    r = requests.get(f"{server.url}/socket.io/", params={"EIO": "4", "transport": transport},
                     headers=headers, timeout=5)
    assert r.status_code == 400 and r.json() == ORIGIN_REFUSED


def history(server, session, other, **params):
    r = session.get(f"{server.url}/chat/api/conversations/{other}/messages",
                    params=params, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_two_users_many_tabs(server, tabs, transport):
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    aid, bid = alice.user["id"], bob.user["id"]
    tr = TRANSPORTS[transport]
    a1, a2 = tabs(server, alice, tr), tabs(server, alice, tr)
    b1, b2, b3 = tabs(server, bob, tr), tabs(server, bob, tr), tabs(server, bob, tr)
    ack = a1.send(bid, "hi bob", client_id=f"{transport}-1")
    assert ack["delivered"] is True
    msg = ack["message"]
    assert (msg["from"], msg["to"], msg["content"]) == (aid, bid, "hi bob")
    for t in (b1, b2, b3, a2):
        assert t.wait_for("message", lambda m: m["id"] == msg["id"]) == msg
    back = b2.send(aid, "hi alice")["message"]
    for t in (a1, a2, b1, b3):
        assert t.wait_for("message", lambda m: m["id"] == back["id"]) == back
    # Events on one socket arrive in order: once a later push is in, an earlier
    # one that was never sent cannot still be coming.
    marker = a2.send(bid, "marker")["message"]
    for t in (a1, b2):
        t.wait_for("message", lambda m: m["id"] == marker["id"])
    assert [m["id"] for m in a1.got("message")] == [back["id"], marker["id"]]
    assert [m["id"] for m in b2.got("message")] == [msg["id"], marker["id"]]
    page = history(server, bob, aid)
    assert [m["content"] for m in page["messages"]] == ["hi bob", "hi alice", "marker"]
    if transport != "upgrade":
        assert a1.sio.transport() == tr[0]


def test_default_transport_upgrades_to_websocket(server, tabs):
    alice = new_user(server)
    tab = tabs(server, alice)
    for _ in range(50):  # bounded: at most ~5 s
        if tab.sio.transport() == "websocket":
            break
        tab.sio.sleep(0.1)
    assert tab.sio.transport() == "websocket"
    me = alice.get(server.url + "/chat/api/me", timeout=5).json()["user"]
    other = new_user(server)
    assert tab.send(other.user["id"], "over the upgraded socket")["message"]["from"] == me["id"]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_offline_send_then_catch_up(server, tabs, transport):
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    aid, bid = alice.user["id"], bob.user["id"]
    tr = TRANSPORTS[transport]
    a1 = tabs(server, alice, tr)
    b1 = tabs(server, bob, tr)
    seen = a1.send(bid, "before the break")["message"]
    b1.wait_for("message", lambda m: m["id"] == seen["id"])
    b1.close()
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": False})
    missed = [a1.send(bid, f"missed {i}") for i in range(3)]
    assert [a["delivered"] for a in missed] == [False, False, False]
    b1 = tabs(server, bob, tr)
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": True})
    page = history(server, bob, aid, after=seen["id"], limit=2)
    assert [m["content"] for m in page["messages"]] == ["missed 0", "missed 1"]
    assert page["has_more"] is True
    page = history(server, bob, aid, after=page["messages"][-1]["id"], limit=100)
    assert [m["content"] for m in page["messages"]] == ["missed 2"]
    assert page["has_more"] is False
    assert a1.send(bid, "welcome back")["delivered"] is True
    b1.wait_for("message", lambda m: m["content"] == "welcome back")
    conv = bob.get(server.url + "/chat/api/conversations", timeout=5).json()["conversations"]
    assert conv[0]["other"]["id"] == aid and conv[0]["unread"] == 5


def test_presence_typing_and_read(server, tabs):
    alice, bob, carol = (new_user(server, p) for p in ("alice", "bob", "carol"))
    aid, bid = alice.user["id"], bob.user["id"]
    a1 = tabs(server, alice, ["websocket"])
    c1 = tabs(server, carol, ["polling"])
    b1 = tabs(server, bob, ["polling"])
    first = b1.send(aid, "hello")["message"]  # now they share a conversation
    b1.close()
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": False})
    b1 = tabs(server, bob, ["polling"])
    b2 = tabs(server, bob, ["websocket"])
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": True})
    assert a1.call("typing", {"to": bid}) == {"ok": True}
    for t in (b1, b2):
        assert t.wait_for("typing") == {"from": aid, "conversation": first["conversation"]}
    second = b2.send(aid, "again")["message"]
    assert a1.call("read", {"with": bid, "up_to": first["id"]}) == {"ok": True}
    expected = {"by": aid, "with": bid, "conversation": first["conversation"],
                "up_to": first["id"]}
    for t in (a1, b1, b2):
        assert t.wait_for("read") == expected
    r = alice.post(f"{server.url}/chat/api/conversations/{bid}/read",
                   json={"up_to": second["id"]}, timeout=5)
    assert r.status_code == 204
    for t in (a1, b1, b2):
        t.wait_for("read", lambda d: d["up_to"] == second["id"])
    b1.close()
    b2.close()
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": False})
    # carol shares no conversation with bob: she heard none of it.
    c1.send(aid, "marker")
    a1.wait_for("message", lambda m: m["content"] == "marker")
    assert c1.got("presence") == [] and c1.got("typing") == [] and c1.got("read") == []
    assert a1.got("typing") == []


def test_polling_tab_closed_right_after_its_send_goes_offline(server, tabs):
    """A tab that closes as soon as its message is acknowledged: the ack comes
    back on the long-poll GET while the POST that carried the message may still
    be answering, and the close must still reach the server (announced offline)."""
    alice, bob = new_user(server, "alice"), new_user(server, "bob")
    aid, bid = alice.user["id"], bob.user["id"]
    a1 = tabs(server, alice, ["websocket"])
    b0 = tabs(server, bob, ["websocket"])
    b0.send(aid, "hello")  # now they share a conversation
    b0.close()
    a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": False})
    for i in range(10):
        a1.forget()
        b1 = tabs(server, bob, ["polling"])
        a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": True})
        b1.send(aid, f"bye {i}")
        b1.close()
        a1.wait_for("presence", lambda p: p == {"user_id": bid, "online": False})


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_refused_without_login(server, transport):
    error, seen = refused(server, transports=TRANSPORTS[transport])
    assert seen == [{"message": "unauthorized"}]
    assert "/chat" in str(error)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_cross_origin_refused(server, strict_server, transport):
    for s in (server, strict_server):
        alice = new_user(s)
        assert_origin_refused(s, alice, transport, "http://evil.example")


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_allowed_origin_and_same_origin_accepted(server, strict_server, tabs, transport):
    alice = new_user(strict_server)
    tab = tabs(strict_server, alice, [transport], headers={"Origin": "http://allowed.example"})
    assert tab.sio.connected
    other = new_user(server)
    same = tabs(server, other, [transport], headers={"Origin": server.url})
    assert same.sio.connected
    assert_origin_refused(server, other, transport, "http://allowed.example")


def test_junk_events_and_bad_input_keep_connection(server, tabs):
    alice, bob = new_user(server), new_user(server)
    bid = bob.user["id"]
    a1 = tabs(server, alice, ["websocket"])
    b1 = tabs(server, bob, ["polling"])
    for event in ("nope", "message", "disconnect", "connect"):
        ack = a1.call(event, {"to": bid})
        assert ack["ok"] is False and ack["error"]["code"] == "unsupported", event
        a1.sio.emit(event, "junk", namespace=NS)  # no ack asked: nothing answers
    bad = [("chat-to", "text", "invalid"), ("chat-to", {"to": str(bid), "content": "x"}, "invalid"),
           ("chat-to", {"to": bid, "content": "   "}, "empty"),
           ("chat-to", {"to": bid, "content": "x" * 2001}, "too_long"),
           ("chat-to", {"to": 10 ** 9, "content": "x"}, "unknown_user"),
           ("chat-to", {"to": 2 ** 64, "content": "x"}, "unknown_user"),
           ("chat-to", {"to": bid, "content": "nul\x00"}, "invalid"),
           ("chat-to", {"to": bid, "content": "\ud800"}, "invalid"),
           ("typing", {"to": True}, "invalid"), ("read", {"with": bid, "up_to": "1"}, "invalid")]
    for event, data, code in bad:
        ack = a1.call(event, data)
        assert ack["ok"] is False and ack["error"]["code"] == code, (event, data, ack)
        assert ack["error"]["message"]
    assert a1.sio.connected
    ack = a1.send(bid, "still works")
    assert ack["delivered"] is True
    b1.wait_for("message", lambda m: m["id"] == ack["message"]["id"])


def test_idempotent_client_id(server, tabs):
    alice, bob = new_user(server), new_user(server)
    bid = bob.user["id"]
    a1, a2 = tabs(server, alice, ["polling"]), tabs(server, alice, ["websocket"])
    first = a1.send(bid, "once", client_id="retry-1")
    again = a1.send(bid, "once", client_id="retry-1")
    assert again["duplicate"] is True and again["message"] == first["message"]
    marker = a1.send(bid, "marker")["message"]
    a2.wait_for("message", lambda m: m["id"] == marker["id"])
    assert [m["content"] for m in a2.got("message")] == ["once", "marker"]


def test_logout_disconnects_sockets(server, tabs):
    alice, bob = new_user(server), new_user(server)
    a1, a2 = tabs(server, alice, ["polling"]), tabs(server, alice, ["websocket"])
    b1 = tabs(server, bob, ["websocket"])
    r = alice.post(server.url + "/auth/logout", timeout=5)
    assert r.status_code == 204
    assert a1.closed.wait(5) and a2.closed.wait(5)
    assert b1.sio.connected and not b1.closed.is_set()
    assert b1.send(alice.user["id"], "gone?")["delivered"] is False
    _, seen = refused(server, headers={"Cookie": cookie(alice)})
    assert seen == [{"message": "unauthorized"}]


def test_delete_account_disconnects_sockets(server, tabs):
    alice, bob = new_user(server), new_user(server)
    a1 = tabs(server, alice, ["websocket"])
    b1 = tabs(server, bob, ["polling"])
    a1.send(bob.user["id"], "bye")
    r = alice.delete(server.url + "/auth/account", timeout=5)
    assert r.status_code == 204
    assert a1.closed.wait(5)
    ack = b1.call("chat-to", {"to": alice.user["id"], "content": "hello?"})
    assert ack["error"]["code"] == "unknown_user"


def test_rate_limited(strict_server, tabs):
    alice, bob, carol = (new_user(strict_server) for _ in range(3))
    bid = bob.user["id"]
    a1 = tabs(strict_server, alice, ["websocket"])
    c1 = tabs(strict_server, carol, ["polling"])
    for i in range(5):
        a1.send(bid, f"m{i}")
    ack = a1.call("chat-to", {"to": bid, "content": "flood"})
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert a1.call("typing", {"to": bid}) == {"ok": True}  # the connection still works
    c1.send(bid, "others are not slowed")
    page = history(strict_server, bob, alice.user["id"])
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(5)]


def test_pings_keep_idle_sockets_alive(tmp_path_factory, tabs, kind):
    """Engine.IO's pings keep sockets alive; without them clients give up in 2 s."""
    s = Server(tmp_path_factory.mktemp("ping"), kind=kind, env={
        "FLASK_SOCKETIO_PING_INTERVAL": "1", "FLASK_SOCKETIO_PING_TIMEOUT": "1"}).start()
    try:
        alice, bob = new_user(s), new_user(s)
        a1 = tabs(s, alice, ["websocket"])
        b1 = tabs(s, bob, ["polling"])
        assert not a1.closed.wait(8) and not b1.closed.is_set()
        assert a1.sio.connected and b1.sio.connected
        sent = a1.send(bob.user["id"], "still here")["message"]
        b1.wait_for("message", lambda m: m["id"] == sent["id"])
    finally:
        s.stop()


# -- contract v2.0 on the real server --------------------------------------

@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_group_with_several_tabs_per_member(server, tabs, transport):
    """Three members, two tabs each: group messages, edits, deletes, typing and
    reads reach every tab but the acting one; a removed member hears nothing more."""
    alice, bob, carol = (new_user(server, p) for p in ("ga", "gb", "gc"))
    tr = TRANSPORTS[transport]
    a1, a2 = tabs(server, alice, tr), tabs(server, alice, TRANSPORTS["websocket"])
    b1, b2 = tabs(server, bob, tr), tabs(server, bob, TRANSPORTS["polling"])
    c1, c2 = tabs(server, carol, tr), tabs(server, carol, TRANSPORTS["websocket"])
    r = alice.post(f"{server.url}/chat/api/groups", timeout=5, json={
        "title": "Live", "members": [bob.user["id"], carol.user["id"]]})
    assert r.status_code == 201, r.text
    gid = r.json()["conversation"]["id"]
    for t in (a1, a2, b1, b2, c1, c2):
        assert t.wait_for("conversation", lambda c: c["id"] == gid)["title"] == "Live"

    ack = a1.call("chat-to", {"conversation": gid, "content": "hello group"})
    assert ack["ok"] and ack["delivered"] is True, ack
    msg = ack["message"]
    for t in (a2, b1, b2, c1, c2):
        assert t.wait_for("message", lambda m: m["id"] == msg["id"]) == msg
    reply = b2.call("chat-to", {"conversation": gid, "content": "re", "reply_to": msg["id"]})
    assert reply["message"]["reply_to"]["id"] == msg["id"]
    for t in (a1, a2, b1, c1, c2):
        t.wait_for("message", lambda m: m["id"] == reply["message"]["id"])

    edited = a1.call("edit", {"id": msg["id"], "content": "hello, group"})["message"]
    for t in (a2, b1, b2, c1, c2):
        assert t.wait_for("message-edited", lambda m: m["id"] == msg["id"]) == edited
    assert b1.call("typing", {"conversation": gid}) == {"ok": True}
    for t in (a1, a2, c1, c2):
        assert t.wait_for("typing") == {"from": bob.user["id"], "conversation": gid}
    assert c1.call("read", {"conversation": gid, "up_to": msg["id"]}) == {"ok": True}
    for t in (a1, b2, c2):
        t.wait_for("read", lambda e: e == {"by": carol.user["id"], "conversation": gid,
                                           "up_to": msg["id"]})

    r = alice.delete(f"{server.url}/chat/api/groups/{gid}/members/{carol.user['id']}",
                     timeout=5)
    assert r.status_code == 204
    for t in (c1, c2):
        t.wait_for("conversation-removed", lambda e: e == {"id": gid})
    assert a1.call("delete", {"id": msg["id"]}) == {"ok": True}
    last = b1.call("chat-to", {"conversation": gid, "content": "carol is gone"})["message"]
    for t in (a1, a2, b2):
        t.wait_for("message", lambda m: m["id"] == last["id"])
    for t in (a2, b1, b2):  # not the tab that deleted it
        t.wait_for("message-deleted", lambda e: e["id"] == msg["id"])
    assert a1.got("message-deleted") == []
    assert all(m["id"] != last["id"] for m in c1.got("message") + c2.got("message"))
    assert c1.got("message-deleted") == [] and c2.got("message-deleted") == []
    r = carol.get(f"{server.url}/chat/api/groups/{gid}/messages", timeout=5)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    err = c1.call("chat-to", {"conversation": gid, "content": "let me in"})
    assert err["ok"] is False and err["error"]["code"] == "not_found"
    bad = c2.call("edit", {"id": "nope"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid"
    assert c2.call("typing", {"to": alice.user["id"]}) == {"ok": True}  # still connected

    page = bob.get(f"{server.url}/chat/api/sync?since=0", timeout=5).json()
    got_ids = [m["id"] for m in page["messages"]]
    # by rev: the reply, then the original (edited, then deleted), then the last one
    assert got_ids == [reply["message"]["id"], msg["id"], last["id"]]
    assert page["messages"][1]["deleted"] is True and page["rev"] == page["messages"][-1]["rev"]
