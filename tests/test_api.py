"""The chat blueprint's JSON API and avatars, through Flask's test client."""
import re

import pytest

from helpers import SeededAuth

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
API = "/chat/api"


@pytest.fixture
def auth(app):
    return SeededAuth(app)


def send(sock, to, content, **extra):
    ack = sock.emit("chat-to", {"to": to, "content": content, **extra},
                    namespace="/chat", callback=True)
    assert ack["ok"], ack
    return ack["message"]


def history(client, other, **params):
    r = client.get(f"{API}/conversations/{other}/messages", query_string=params)
    assert r.status_code == 200, r.json
    return r.json


def ids(messages):
    return [m["id"] for m in messages]


@pytest.fixture
def pair(auth):
    """alice and bob, logged in, each with one socket."""
    alice, bob = auth.register("alice"), auth.register("bob")
    return alice, bob, auth.socket(alice), auth.socket(bob)


@pytest.mark.parametrize("method, path", [
    ("get", "/me"), ("get", "/users"), ("get", "/conversations"),
    ("get", "/conversations/1/messages"), ("post", "/conversations/1/read")])
def test_api_needs_login_json_401(client, method, path):
    r = getattr(client, method)(API + path)
    assert r.status_code == 401
    assert r.is_json
    assert r.json["error"]["code"] == "unauthorized"
    assert r.json["error"]["message"]
    assert "Location" not in r.headers


def test_unknown_api_path_is_json_404(auth):
    r = auth.register("alice").get(API + "/nope")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"
    assert r.json["error"]["message"]


def test_me(auth):
    alice = auth.register("alice")
    r = alice.get(API + "/me")
    assert r.json == {"user": {"id": alice.user["id"], "username": "alice",
                               "avatar": f"/chat/avatar/{alice.user['id']}.svg"},
                      "locale": "en"}


# -- users ---------------------------------------------------------------

def test_users_search(auth):
    alice = auth.register("alice")
    for name in ("zalan", "Alina", "bob", "MALCOLM", "al.x"):
        auth.register(name)
    r = alice.get(API + "/users", query_string={"q": "AL"})
    names = [u["username"] for u in r.json["users"]]
    assert names == ["al.x", "Alina", "MALCOLM", "zalan"]  # by name, any case, not me
    assert all(set(u) == {"id", "username", "avatar", "online"} for u in r.json["users"])
    r = alice.get(API + "/users", query_string={"q": "al", "limit": 2})
    assert [u["username"] for u in r.json["users"]] == ["al.x", "Alina"]
    r = alice.get(API + "/users")
    assert [u["username"] for u in r.json["users"]] == [
        "al.x", "Alina", "bob", "MALCOLM", "zalan"]
    assert alice.get(API + "/users", query_string={"q": "%"}).json["users"] == []
    assert alice.get(API + "/users", query_string={"q": "_"}).json["users"] == []
    r = alice.get(API + "/users", query_string={"q": "al\x00"})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"


def test_users_online_flag(auth):
    alice, bob = auth.register("alice"), auth.register("bob")
    auth.register("bobby")
    auth.socket(bob)
    users = alice.get(API + "/users", query_string={"q": "bob"}).json["users"]
    assert [(u["username"], u["online"]) for u in users] == [("bob", True), ("bobby", False)]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "x", "1.5"])
def test_users_limit_validated(auth, limit):
    r = auth.register("alice").get(API + "/users", query_string={"limit": limit})
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"


# -- conversations -------------------------------------------------------

def test_conversations(auth, pair):
    alice, bob, a_sock, b_sock = pair
    carol = auth.register("carol")
    c_sock = auth.socket(carol)
    aid, bid, cid = alice.user["id"], bob.user["id"], carol.user["id"]
    assert alice.get(API + "/conversations").json == {"conversations": []}
    send(b_sock, aid, "one")
    send(b_sock, aid, "two")
    send(c_sock, aid, "from carol")
    last_bob = send(a_sock, bid, "reply")
    convs = alice.get(API + "/conversations").json["conversations"]
    assert [c["other"]["id"] for c in convs] == [bid, cid]  # newest first
    assert convs[0]["last_message"] == last_bob
    assert convs[0]["unread"] == 2
    assert convs[1]["unread"] == 1
    assert convs[1]["last_message"]["content"] == "from carol"
    assert convs[0]["other"]["online"] is True
    c_sock.disconnect(namespace="/chat")
    convs = alice.get(API + "/conversations").json["conversations"]
    assert convs[1]["other"] == {"id": cid, "username": "carol",
                                 "avatar": f"/chat/avatar/{cid}.svg", "online": False}
    send(c_sock_again := auth.socket(carol), aid, "newer")
    assert c_sock_again.is_connected("/chat")
    convs = alice.get(API + "/conversations").json["conversations"]
    assert [c["other"]["id"] for c in convs] == [cid, bid]
    bob_convs = bob.get(API + "/conversations").json["conversations"]
    assert [c["other"]["id"] for c in bob_convs] == [aid]  # never carol's
    assert bob_convs[0]["unread"] == 1


# -- history -------------------------------------------------------------

def test_history_pages(pair):
    alice, bob, a_sock, b_sock = pair
    aid, bid = alice.user["id"], bob.user["id"]
    sent = [send(a_sock if i % 2 else b_sock, bid if i % 2 else aid, f"m{i}")
            for i in range(45)]
    all_ids = ids(sent)
    page = history(alice, bid)
    assert ids(page["messages"]) == all_ids[-20:]  # the newest page by default
    assert page["has_more"] is True
    assert page["me"]["id"] == aid
    assert page["other"] == {"id": bid, "username": "bob",
                             "avatar": f"/chat/avatar/{bid}.svg", "online": True}
    page = history(alice, bid, before=all_ids[-20])
    assert ids(page["messages"]) == all_ids[5:25]
    assert page["has_more"] is True
    page = history(bob, aid, before=all_ids[5])
    assert ids(page["messages"]) == all_ids[:5]
    assert page["has_more"] is False
    page = history(alice, bid, limit=100)
    assert ids(page["messages"]) == all_ids
    assert page["has_more"] is False
    page = history(alice, bid, limit=1)
    assert ids(page["messages"]) == all_ids[-1:]
    assert page["messages"][0] == sent[-1]


def test_history_after(pair):
    alice, bob, a_sock, b_sock = pair
    sent = [send(b_sock, alice.user["id"], f"m{i}") for i in range(7)]
    all_ids = ids(sent)
    page = history(alice, bob.user["id"], after=all_ids[1], limit=3)
    assert ids(page["messages"]) == all_ids[2:5]  # the oldest after, oldest first
    assert page["has_more"] is True
    page = history(alice, bob.user["id"], after=all_ids[4], limit=3)
    assert ids(page["messages"]) == all_ids[5:]
    assert page["has_more"] is False
    page = history(alice, bob.user["id"], after=all_ids[-1])
    assert page["messages"] == [] and page["has_more"] is False


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"limit": "2.0"},
    {"before": "x"}, {"after": "1e3"}, {"before": -1}, {"before": 3, "after": 1},
    {"before": 2 ** 63}, {"after": 10 ** 30}])
def test_history_bad_params(pair, params):
    alice, bob, _, _ = pair
    r = alice.get(f"{API}/conversations/{bob.user['id']}/messages", query_string=params)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"
    assert r.json["error"]["message"]


@pytest.mark.parametrize("other", ["999999", "abc", "-1", str(2 ** 63), str(10 ** 30)])
def test_history_unknown_user(auth, other):
    r = auth.register("alice").get(f"{API}/conversations/{other}/messages")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "unknown_user"


def test_history_only_own_conversations(auth, pair):
    alice, bob, a_sock, b_sock = pair
    send(a_sock, bob.user["id"], "private to bob")
    send(b_sock, alice.user["id"], "private to alice")
    carol = auth.register("carol")
    for other in (alice.user["id"], bob.user["id"]):
        page = history(carol, other)
        assert page["messages"] == [] and page["has_more"] is False
        assert page["me"]["id"] == carol.user["id"]
    assert carol.get(API + "/conversations").json == {"conversations": []}


def test_message_shape_and_timestamps(pair):
    alice, bob, a_sock, b_sock = pair
    msg = send(a_sock, bob.user["id"], "  <b>hi</b> & bye  ", client_id="c-1")
    # v1.1's fields, plus v2.0's (a v1 client ignores what it does not know).
    assert set(msg) == {"id", "from", "to", "content", "sent_at", "client_id", "read_at",
                        "conversation", "edited_at", "deleted", "reply_to", "attachments",
                        "rev"}
    assert isinstance(msg["conversation"], int) and isinstance(msg["rev"], int)
    assert (msg["edited_at"], msg["deleted"], msg["reply_to"], msg["attachments"]) == \
        (None, False, None, [])
    assert isinstance(msg["id"], int)
    assert (msg["from"], msg["to"]) == (alice.user["id"], bob.user["id"])
    assert msg["content"] == "<b>hi</b> & bye"  # stripped, stored as text
    assert ISO_Z.match(msg["sent_at"]), msg["sent_at"]
    assert msg["client_id"] == "c-1" and msg["read_at"] is None
    stored = history(bob, alice.user["id"])["messages"][0]
    assert stored == msg
    r = bob.post(f"{API}/conversations/{alice.user['id']}/read", json={"up_to": msg["id"]})
    assert r.status_code == 204
    stored = history(alice, bob.user["id"])["messages"][0]
    assert ISO_Z.match(stored["read_at"]), stored["read_at"]
    assert stored["read_at"] >= stored["sent_at"]


# -- mark read -----------------------------------------------------------

def test_mark_read_over_http(auth, pair):
    alice, bob, a_sock, b_sock = pair
    aid, bid = alice.user["id"], bob.user["id"]
    b_tab2 = auth.socket(bob)
    m1, m2, m3 = (send(a_sock, bid, t) for t in ("1", "2", "3"))
    mine = send(b_sock, aid, "bob's own")
    for s in (a_sock, b_sock, b_tab2):
        s.get_received("/chat")
    r = bob.post(f"{API}/conversations/{aid}/read", json={"up_to": m2["id"]})
    assert r.status_code == 204 and r.data == b""
    expected = {"by": bid, "with": aid, "conversation": m2["conversation"], "up_to": m2["id"]}
    for s in (a_sock, b_sock, b_tab2):  # both users, the reader's tabs included
        reads = [e["args"][0] for e in s.get_received("/chat") if e["name"] == "read"]
        assert reads == [expected]
    msgs = {m["id"]: m for m in history(bob, aid)["messages"]}
    assert msgs[m1["id"]]["read_at"] and msgs[m2["id"]]["read_at"]
    assert msgs[m3["id"]]["read_at"] is None
    assert msgs[mine["id"]]["read_at"] is None  # only the other's messages
    assert bob.get(API + "/conversations").json["conversations"][0]["unread"] == 1


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "invalid"), ({"up_to": "5"}, 400, "invalid"), ({"up_to": True}, 400, "invalid"),
    ({"up_to": -3}, 400, "invalid"), ({"up_to": 1.5}, 400, "invalid"),
    ({"up_to": 2 ** 63}, 400, "invalid"),
    ([1], 400, "invalid")])
def test_mark_read_bad_body(pair, body, status, code):
    alice, bob, _, _ = pair
    r = alice.post(f"{API}/conversations/{bob.user['id']}/read", json=body)
    assert r.status_code == status
    assert r.json["error"]["code"] == code


def test_mark_read_unknown_user_and_415(pair):
    alice, bob, _, _ = pair
    for other in (999999, 10 ** 30):
        r = alice.post(f"{API}/conversations/{other}/read", json={"up_to": 1})
        assert r.status_code == 404 and r.json["error"]["code"] == "unknown_user"
    r = alice.post(f"{API}/conversations/{bob.user['id']}/read", data='{"up_to": 1}',
                   content_type="text/plain")
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"
    r = alice.post(f"{API}/conversations/{bob.user['id']}/read", data="",
                   content_type="text/plain")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"  # no body: not 415


def test_mark_read_cross_origin_refused(pair):
    alice, bob, _, _ = pair
    r = alice.post(f"{API}/conversations/{bob.user['id']}/read", json={"up_to": 1},
                   headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"


# -- avatars -------------------------------------------------------------

def test_avatar(auth):
    alice = auth.register("alice")
    r = auth.app.test_client().get(f"/chat/avatar/{alice.user['id']}.svg")
    assert r.status_code == 200
    assert r.mimetype == "image/svg+xml"
    body = r.get_data(as_text=True)
    assert body.startswith("<svg") and ">A</text>" in body


@pytest.mark.parametrize("uid", ["999999", "abc", str(10 ** 30)])
def test_avatar_unknown(client, uid):
    r = client.get(f"/chat/avatar/{uid}.svg")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"
