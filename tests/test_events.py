"""The /chat Socket.IO namespace, through Flask-SocketIO's test client."""

import pytest

from chatapp import create_app
from helpers import SeededAuth

NS = "/chat"


@pytest.fixture
def auth(app):
    return SeededAuth(app)


def fill_ids(payload, ids):
    """Put real user ids where a parametrized payload names them."""
    if not isinstance(payload, dict):
        return payload
    return {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}


def emit(sock, event, data=None, **kw):
    args = () if data is None else (data,)
    return sock.emit(event, *args, namespace=NS, callback=True, **kw)


def pushed(sock, name):
    """The payloads of the ``name`` events this socket received since last asked."""
    # The test client keeps a `message` event's payload bare, others in a list.
    return [e["args"] if name == "message" else e["args"][0]
            for e in sock.get_received(NS) if e["name"] == name]


def drain(*socks):
    for s in socks:
        s.get_received(NS)


@pytest.fixture
def users(auth):
    """alice, bob (with a conversation) and carol, each logged in."""
    return auth.register("alice"), auth.register("bob"), auth.register("carol")


def ok_send(sock, to, content="hi", **extra):
    ack = emit(sock, "chat-to", {"to": to, "content": content, **extra})
    assert ack["ok"] is True, ack
    return ack


# -- connecting ----------------------------------------------------------

def test_connect_refused_without_login(app, client, caplog):
    # Flask-SocketIO's test client drops the CONNECT_ERROR data; the server's
    # log says why (test_live checks the data a real client receives).
    caplog.set_level("INFO", logger="chatapp")
    sio = app.extensions["socketio"]
    sock = sio.test_client(app, namespace=NS, flask_test_client=client)
    assert not sock.is_connected(NS)
    assert "socket refused: not logged in" in caplog.text


def test_connect_refused_cross_origin(auth, caplog):
    caplog.set_level("INFO", logger="chatapp")
    alice = auth.register("alice")
    sio = auth.app.extensions["socketio"]
    sock = sio.test_client(auth.app, namespace=NS, flask_test_client=alice,
                           headers={"Origin": "http://evil.example"})
    assert not sock.is_connected(NS)
    assert "socket refused: origin http://evil.example" in caplog.text
    same = auth.socket(alice, headers={"Origin": "http://localhost"})
    assert same.is_connected(NS)


def test_allowed_origin_accepted(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'o.sqlite'}",
                      "CHAT_ALLOWED_ORIGINS": ["http://allowed.example"]})
    auth = SeededAuth(app)
    alice = auth.register("alice")
    assert auth.socket(alice, headers={"Origin": "http://allowed.example"}).is_connected(NS)
    sock = app.extensions["socketio"].test_client(
        app, namespace=NS, flask_test_client=alice, headers={"Origin": "http://evil.example"})
    assert not sock.is_connected(NS)


# -- chat-to -------------------------------------------------------------

def test_chat_to_fan_out(auth, users):
    alice, bob, carol = users
    a1, a2, b1, b2, c1 = (auth.socket(u) for u in (alice, alice, bob, bob, carol))
    drain(a1, a2, b1, b2, c1)
    ack = ok_send(a1, bob.user["id"], "hello bob")
    assert ack["delivered"] is True
    msg = ack["message"]
    assert msg["content"] == "hello bob" and msg["from"] == alice.user["id"]
    assert pushed(b1, "message") == [msg]
    assert pushed(b2, "message") == [msg]
    assert pushed(a2, "message") == [msg]  # the sender's other tab
    assert pushed(a1, "message") == []  # never back to the sending tab
    assert pushed(c1, "message") == []
    back = ok_send(b2, alice.user["id"], "hi alice")["message"]
    assert pushed(a1, "message") == [back] and pushed(a2, "message") == [back]
    assert pushed(b1, "message") == [back] and pushed(b2, "message") == []


def test_chat_to_offline_not_delivered(auth, users):
    alice, bob, _ = users
    a1 = auth.socket(alice)
    ack = ok_send(a1, bob.user["id"], "are you there?")
    assert ack["delivered"] is False
    b1 = auth.socket(bob)
    assert ok_send(a1, bob.user["id"], "now?")["delivered"] is True
    b1.disconnect(namespace=NS)
    assert ok_send(a1, bob.user["id"], "gone")["delivered"] is False


def test_code_points_counted(auth, users):
    alice, bob, _ = users
    a1 = auth.socket(alice)
    emoji = "\U0001F600"
    ack = ok_send(a1, bob.user["id"], emoji * 2000)
    assert ack["message"]["content"] == emoji * 2000
    ack = emit(a1, "chat-to", {"to": bob.user["id"], "content": emoji * 2001})
    assert ack["ok"] is False and ack["error"]["code"] == "too_long"
    ok_send(a1, bob.user["id"], "  " + "a" * 2000 + "\n")  # length after stripping
    page = bob.get(f"/chat/api/conversations/{alice.user['id']}/messages").json
    assert page["messages"][0]["content"] == emoji * 2000


@pytest.mark.parametrize("payload, code", [
    ("hello", "invalid"),
    (["to", 2], "invalid"),
    (42, "invalid"),
    ({"content": "hi"}, "invalid"),
    ({"to": "bob", "content": "hi"}, "invalid"),
    ({"to": "BOB_ID_STR", "content": "hi"}, "invalid"),
    ({"to": True, "content": "hi"}, "invalid"),
    ({"to": 1.5, "content": "hi"}, "invalid"),
    ({"to": None, "content": "hi"}, "invalid"),
    ({"to": "BOB"}, "invalid"),
    ({"to": "BOB", "content": 5}, "invalid"),
    ({"to": "BOB", "content": None}, "invalid"),
    ({"to": "BOB", "content": ["hi"]}, "invalid"),
    ({"to": "BOB", "content": "hi", "client_id": "x" * 65}, "invalid"),
    ({"to": "BOB", "content": "hi", "client_id": 7}, "invalid"),
    ({"to": "BOB", "content": "hi", "client_id": "\ud800"}, "invalid"),
    ({"to": "BOB", "content": "a\x00b"}, "invalid"),
    ({"to": "BOB", "content": "lone \udc00 surrogate"}, "invalid"),
    ({"to": "BOB", "content": ""}, "empty"),
    ({"to": "BOB", "content": " \n\t "}, "empty"),
    ({"to": "BOB", "content": "x" * 2001}, "too_long"),
    ({"to": 999999, "content": "hi"}, "unknown_user"),
    ({"to": 2 ** 63, "content": "hi"}, "unknown_user"),
    ({"to": -(10 ** 30), "content": "hi"}, "unknown_user"),
    ({"to": "ME", "content": "hi"}, "invalid"),
])
def test_chat_to_refused(auth, users, payload, code):
    alice, bob, _ = users
    payload = fill_ids(payload, {"BOB": bob.user["id"], "BOB_ID_STR": str(bob.user["id"]),
                                 "ME": alice.user["id"]})
    a1, b1 = auth.socket(alice), auth.socket(bob)
    drain(b1)
    ack = emit(a1, "chat-to", payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == code
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    assert pushed(b1, "message") == []
    assert a1.is_connected(NS)
    ok_send(a1, bob.user["id"], "the next one works")  # the connection keeps working
    assert len(pushed(b1, "message")) == 1
    page = bob.get(f"/chat/api/conversations/{alice.user['id']}/messages").json
    assert [m["content"] for m in page["messages"]] == ["the next one works"]


def test_unstorable_text_refused_on_postgresql(tmp_path):
    """NUL and lone surrogates (JSON can carry both) are `invalid`, not a crash."""
    from realservices import postgres_database

    with postgres_database() as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": url,
                          "SOCKETIO_ASYNC_MODE": "threading", "CHAT_RATE_LIMIT": 0})
        try:
            auth = SeededAuth(app)
            alice, bob = auth.register("alice"), auth.register("bob")
            a1 = auth.socket(alice)
            for content in ("nul \x00 inside", "\ud83d half an emoji"):
                ack = emit(a1, "chat-to", {"to": bob.user["id"], "content": content})
                assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
            r = alice.get("/chat/api/users", query_string={"q": "b\x00"})
            assert r.status_code == 400 and r.json["error"]["code"] == "invalid"
            assert ok_send(a1, bob.user["id"], "fine \U0001F600")["message"]["id"]
        finally:
            with app.app_context():
                app.extensions["sqlalchemy"].engine.dispose()


def test_chat_to_without_payload(auth, users):
    alice = users[0]
    a1 = auth.socket(alice)
    ack = emit(a1, "chat-to")
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"


def test_client_id_idempotent(auth, users):
    alice, bob, carol = users
    a1, a2, b1 = auth.socket(alice), auth.socket(alice), auth.socket(bob)
    first = ok_send(a1, bob.user["id"], "once", client_id="c-" + "x" * 62)
    assert "duplicate" not in first or first["duplicate"] is False
    drain(a1, a2, b1)
    b1.disconnect(namespace=NS)
    again = ok_send(a2, bob.user["id"], "once (resent)", client_id="c-" + "x" * 62)
    assert again["duplicate"] is True
    assert again["message"] == first["message"]
    assert again["delivered"] is False  # the current state, not the first one's
    assert pushed(a1, "message") == [] and pushed(a2, "message") == []
    page = alice.get(f"/chat/api/conversations/{bob.user['id']}/messages").json
    assert [m["content"] for m in page["messages"]] == ["once"]
    # Another sender may use the same client_id for a message of its own.
    c1 = auth.socket(carol)
    other = ok_send(c1, bob.user["id"], "mine", client_id="c-" + "x" * 62)
    assert other["message"]["id"] != first["message"]["id"]
    assert "duplicate" not in other or other["duplicate"] is False


# -- typing --------------------------------------------------------------

def test_typing_forwarded(auth, users):
    alice, bob, carol = users
    a1, a2, b1, b2, c1 = (auth.socket(u) for u in (alice, alice, bob, bob, carol))
    drain(a1, a2, b1, b2, c1)
    assert emit(a1, "typing", {"to": bob.user["id"]}) == {"ok": True}
    # No conversation yet (no message): v2.0's `conversation` is null.
    assert pushed(b1, "typing") == [{"from": alice.user["id"], "conversation": None}]
    assert pushed(b2, "typing") == [{"from": alice.user["id"], "conversation": None}]
    cid = ok_send(a1, bob.user["id"])["message"]["conversation"]
    drain(a1, a2, b1, b2, c1)
    assert emit(a1, "typing", {"to": bob.user["id"]}) == {"ok": True}
    assert pushed(b1, "typing") == [{"from": alice.user["id"], "conversation": cid}]
    assert pushed(a2, "typing") == [] and pushed(c1, "typing") == []


@pytest.mark.parametrize("payload, code", [
    ("bob", "invalid"), ({}, "invalid"), ({"to": "BOB_ID_STR"}, "invalid"),
    ({"to": True}, "invalid"), ({"to": 999999}, "unknown_user"), ({"to": 10 ** 30}, "unknown_user"),
    ({"to": "ME"}, "invalid")])
def test_typing_refused(auth, users, payload, code):
    alice, bob, _ = users
    ids = {"BOB_ID_STR": str(bob.user["id"]), "ME": alice.user["id"]}
    if isinstance(payload, dict):
        payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    a1, b1 = auth.socket(alice), auth.socket(bob)
    drain(b1)
    ack = emit(a1, "typing", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code and ack["error"]["message"]
    assert pushed(b1, "typing") == []
    assert emit(a1, "typing", {"to": bob.user["id"]}) == {"ok": True}


# -- read ----------------------------------------------------------------

def test_read_over_socket(auth, users):
    alice, bob, carol = users
    a1, b1, b2, c1 = (auth.socket(u) for u in (alice, bob, bob, carol))
    m1 = ok_send(a1, bob.user["id"], "one")["message"]
    m2 = ok_send(a1, bob.user["id"], "two")["message"]
    drain(a1, b1, b2, c1)
    ack = emit(b1, "read", {"with": alice.user["id"], "up_to": m1["id"]})
    assert ack == {"ok": True}
    expected = {"by": bob.user["id"], "with": alice.user["id"],
                "conversation": m1["conversation"], "up_to": m1["id"]}
    for s in (a1, b1, b2):
        assert pushed(s, "read") == [expected]
    assert pushed(c1, "read") == []
    page = alice.get(f"/chat/api/conversations/{bob.user['id']}/messages").json
    read_at = {m["id"]: m["read_at"] for m in page["messages"]}
    assert read_at[m1["id"]] is not None and read_at[m2["id"]] is None
    conv = bob.get("/chat/api/conversations").json["conversations"][0]
    assert conv["unread"] == 1


@pytest.mark.parametrize("payload, code", [
    ([1], "invalid"), ({"up_to": 1}, "invalid"), ({"with": "ALICE_STR", "up_to": 1}, "invalid"),
    ({"with": "ALICE", "up_to": "1"}, "invalid"), ({"with": "ALICE", "up_to": False}, "invalid"),
    ({"with": "ALICE"}, "invalid"), ({"with": 999999, "up_to": 1}, "unknown_user"),
    ({"with": "ALICE", "up_to": 2 ** 63}, "invalid"),
    ({"with": 10 ** 30, "up_to": 1}, "unknown_user"),
    ({"with": "ME", "up_to": 1}, "invalid")])
def test_read_refused(auth, users, payload, code):
    alice, bob, _ = users
    payload = fill_ids(payload, {"ALICE": alice.user["id"], "ALICE_STR": str(alice.user["id"]),
                                 "ME": bob.user["id"]})
    a1, b1 = auth.socket(alice), auth.socket(bob)
    ok_send(a1, bob.user["id"], "x")
    drain(a1, b1)
    ack = emit(b1, "read", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code and ack["error"]["message"]
    assert pushed(a1, "read") == []
    assert emit(b1, "read", {"with": alice.user["id"], "up_to": 1}) == {"ok": True}


# -- presence ------------------------------------------------------------

def test_presence(auth, users):
    alice, bob, carol = users
    a1, b1 = auth.socket(alice), auth.socket(bob)
    ok_send(a1, bob.user["id"], "we share a conversation")
    b1.disconnect(namespace=NS)
    c1 = auth.socket(carol)
    drain(a1, c1)
    b1 = auth.socket(bob)
    online = {"user_id": bob.user["id"], "online": True}
    assert pushed(a1, "presence") == [online]
    assert pushed(c1, "presence") == []  # no conversation with bob
    b2 = auth.socket(bob)
    assert pushed(a1, "presence") == []  # only the first connection counts
    assert pushed(b2, "presence") == []  # no snapshot on connect
    b1.disconnect(namespace=NS)
    assert pushed(a1, "presence") == []  # bob still has a tab open
    b2.disconnect(namespace=NS)
    assert pushed(a1, "presence") == [{"user_id": bob.user["id"], "online": False}]
    assert pushed(c1, "presence") == []


# -- junk ----------------------------------------------------------------

@pytest.mark.parametrize("event", ["nope", "message", "presence", "connect", "disconnect"])
def test_unknown_event_unsupported(auth, users, event):
    alice, bob, _ = users
    a1, b1 = auth.socket(alice), auth.socket(bob)
    drain(a1)
    ack = emit(a1, event, {"to": bob.user["id"], "content": "x"})
    assert ack["ok"] is False
    assert ack["error"]["code"] == "unsupported"
    a1.emit(event, {"junk": True}, namespace=NS)  # without an ack: no crash either
    assert a1.is_connected(NS)
    assert ok_send(a1, bob.user["id"], "still fine")["delivered"] is True
    b1.disconnect(namespace=NS)
    assert pushed(a1, "presence") == [{"user_id": bob.user["id"], "online": False}]
    assert ok_send(b1 := auth.socket(bob), alice.user["id"], "back")["delivered"] is True
    assert b1.is_connected(NS)


# -- rate limit ----------------------------------------------------------

@pytest.fixture
def limited(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'rl.sqlite'}",
                      "CHAT_RATE_LIMIT": 3})
    yield SeededAuth(app)
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


def test_rate_limited(limited):
    alice, bob, carol = (limited.register(n) for n in ("alice", "bob", "carol"))
    a1, c1 = limited.socket(alice), limited.socket(carol)
    for i in range(3):
        ok_send(a1, bob.user["id"], f"m{i}", client_id=f"c{i}")
    ack = emit(a1, "chat-to", {"to": bob.user["id"], "content": "one too many"})
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert ack["error"]["message"]
    # A resend of a stored message is not a new send; other users are unaffected.
    assert ok_send(a1, bob.user["id"], "m0", client_id="c0")["duplicate"] is True
    ok_send(c1, bob.user["id"], "carol is fine")
    assert a1.is_connected(NS)
    page = bob.get(f"/chat/api/conversations/{alice.user['id']}/messages").json
    assert [m["content"] for m in page["messages"]] == ["m0", "m1", "m2"]
