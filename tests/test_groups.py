"""Contract v2.0 through the app: groups, edit/delete/reply, blocks, sync and the
paged conversation list, over HTTP (test client) and Socket.IO (test client)."""
import pytest
import sqlalchemy as sa

from chatapp import create_app
from helpers import SeededAuth

API = "/chat/api"
NS = "/chat"


@pytest.fixture
def auth(app):
    return SeededAuth(app)


def emit(sock, event, data=None):
    args = () if data is None else (data,)
    return sock.emit(event, *args, namespace=NS, callback=True)


def got(sock, name):
    """Payloads of ``name`` events this socket received since last asked (others dropped)."""
    return [e["args"] if name == "message" else e["args"][0]
            for e in sock.get_received(NS) if e["name"] == name]


def events(sock):
    return [(e["name"], e["args"] if e["name"] == "message" else e["args"][0])
            for e in sock.get_received(NS)]


def drain(*socks):
    for s in socks:
        s.get_received(NS)


def ok(ack):
    assert ack["ok"] is True, ack
    return ack


def error(resp_or_ack, code, status=None):
    if isinstance(resp_or_ack, dict):
        assert resp_or_ack["ok"] is False, resp_or_ack
        body = resp_or_ack
    else:
        assert resp_or_ack.status_code == status, (resp_or_ack.status_code, resp_or_ack.json)
        body = resp_or_ack.json
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.fixture
def trio(auth):
    """alice, bob, carol and dave logged in; alice owns group "Trip" with bob and carol."""
    a, b, c, d = (auth.register(n) for n in ("alice", "bob", "carol", "dave"))
    r = a.post(f"{API}/groups", json={"title": "  Trip ", "members": [b.user["id"],
                                                                       c.user["id"]]})
    assert r.status_code == 201, r.json
    return a, b, c, d, r.json["conversation"]


def uid(client):
    return client.user["id"]


# -- groups over HTTP ------------------------------------------------------

def test_create_group_shape_and_conversation_event(auth):
    a, b, c = (auth.register(n) for n in ("alice", "bob", "carol"))
    sa_, sb, sc = auth.socket(a), auth.socket(b), auth.socket(c)
    drain(sa_, sb, sc)
    r = a.post(f"{API}/groups", json={"title": "Trip", "members": [uid(b), uid(c), uid(b)]})
    assert r.status_code == 201
    conv = r.json["conversation"]
    assert conv["kind"] == "group" and conv["title"] == "Trip" and conv["owner"] == uid(a)
    assert [m["id"] for m in conv["members"]] == [uid(a), uid(b), uid(c)]
    assert all(m["online"] is True for m in conv["members"])
    assert conv["last_message"] is None and conv["unread"] == 0
    for s in (sa_, sb, sc):  # every member, the creator's own tab included
        assert [e["id"] for e in got(s, "conversation")] == [conv["id"]]
    assert b.get(f"{API}/groups/{conv['id']}").json["conversation"]["id"] == conv["id"]


@pytest.mark.parametrize("body, code, status", [
    ({"title": "", "members": ["B"]}, "invalid", 400),
    ({"title": "   ", "members": ["B"]}, "invalid", 400),
    ({"title": "x" * 101, "members": ["B"]}, "invalid", 400),
    ({"title": 5, "members": ["B"]}, "invalid", 400),
    ({"members": ["B"]}, "invalid", 400),
    ({"title": "T", "members": []}, "invalid", 400),
    ({"title": "T", "members": ["ME"]}, "invalid", 400),
    ({"title": "T", "members": "B"}, "invalid", 400),
    ({"title": "T", "members": ["B", "7"]}, "invalid", 400),
    ({"title": "T", "members": ["B", True]}, "invalid", 400),
    ({"title": "T", "members": ["B", 999999]}, "unknown_user", 404),
    ({"title": "T", "members": list(range(10_000, 10_300))}, "invalid", 400),
    ({"title": "T\x00", "members": ["B"]}, "invalid", 400),
])
def test_create_group_refused(auth, app, body, code, status):
    a, b = auth.register("alice"), auth.register("bob")
    ids = {"B": uid(b), "ME": uid(a)}
    body = {k: [ids.get(x, x) if isinstance(x, str) and x in ids else x for x in v]
            if isinstance(v, list) else v for k, v in body.items()}
    error(a.post(f"{API}/groups", json=body), code, status)
    assert a.get(f"{API}/conversations?limit=50").json["conversations"] == []


def test_three_hundred_members_refused_and_max_members_setting(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.sqlite'}",
                      "CHAT_GROUP_MAX_MEMBERS": 3})
    auth = SeededAuth(app)
    a, b, c, d = (auth.register(n) for n in ("alice", "bob", "carol", "dave"))
    error(a.post(f"{API}/groups", json={"title": "T", "members": [uid(b), uid(c), uid(d)]}),
          "invalid", 400)
    conv = a.post(f"{API}/groups", json={"title": "T", "members": [uid(b), uid(c)]}).json
    gid = conv["conversation"]["id"]
    error(a.post(f"{API}/groups/{gid}/members", json={"members": [uid(d)]}), "invalid", 400)


def test_non_member_gets_not_found_for_everything(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    msg = ok(emit(auth.socket(a), "chat-to", {"conversation": gid, "content": "secret"}))
    mid = msg["message"]["id"]
    for method, path, body in [
            ("get", f"/groups/{gid}", None), ("patch", f"/groups/{gid}", {"title": "x"}),
            ("post", f"/groups/{gid}/members", {"members": [uid(d)]}),
            ("delete", f"/groups/{gid}/members/{uid(b)}", None),
            ("get", f"/groups/{gid}/messages", None),
            ("post", f"/groups/{gid}/read", {"up_to": mid}),
            ("patch", f"/messages/{mid}", {"content": "x"}),
            ("delete", f"/messages/{mid}", None),
            # an id that exists nowhere answers exactly the same
            ("get", "/groups/987654", None), ("get", "/groups/abc", None),
            ("patch", "/messages/987654", {"content": "x"})]:
        kw = {"json": body} if body is not None else {}
        r = getattr(d, method)(API + path, **kw)
        error(r, "not_found", 404)
    sd = auth.socket(d)
    error(emit(sd, "chat-to", {"conversation": gid, "content": "hi"}), "not_found")
    error(emit(sd, "chat-to", {"conversation": 987654, "content": "hi"}), "not_found")
    error(emit(sd, "typing", {"conversation": gid}), "not_found")
    error(emit(sd, "read", {"conversation": gid, "up_to": mid}), "not_found")
    error(emit(sd, "edit", {"id": mid, "content": "x"}), "not_found")
    error(emit(sd, "delete", {"id": mid}), "not_found")
    assert sd.is_connected(NS)
    assert d.get(f"{API}/sync?since=0").json["messages"] == []
    assert b.get(f"{API}/messages/{mid}").status_code in (404, 405)


def test_group_chat_fan_out_delivered_and_history(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    a1, a2, b1, b2, c1, d1 = (auth.socket(x) for x in (a, a, b, b, c, d))
    drain(a1, a2, b1, b2, c1, d1)
    ack = ok(emit(a1, "chat-to", {"conversation": gid, "content": "hello all",
                                   "client_id": "g-1"}))
    msg = ack["message"]
    assert ack["delivered"] is True
    assert msg["conversation"] == gid and msg["to"] is None and msg["read_at"] is None
    for s in (a2, b1, b2, c1):
        assert got(s, "message") == [msg]
    assert got(a1, "message") == [] and got(d1, "message") == []
    again = ok(emit(a1, "chat-to", {"conversation": gid, "content": "hello all",
                                     "client_id": "g-1"}))
    assert again["duplicate"] is True and again["message"]["id"] == msg["id"]
    assert got(b1, "message") == []
    page = c.get(f"{API}/groups/{gid}/messages?limit=10").json
    assert page["conversation"]["id"] == gid and page["has_more"] is False
    assert [m["id"] for m in page["messages"]] == [msg["id"]]
    assert page["conversation"]["unread"] == 1
    # nobody else online: delivered false
    for s in (b1, b2, c1):
        s.disconnect(namespace=NS)
    assert emit(a1, "chat-to", {"conversation": gid, "content": "anyone?"})["delivered"] is False


def test_group_paging_read_and_unread(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    sa_, sb, sc = auth.socket(a), auth.socket(b), auth.socket(c)
    ids = [ok(emit(sa_, "chat-to", {"conversation": gid, "content": f"m{i}"}))["message"]["id"]
           for i in range(7)]
    url = f"{API}/groups/{gid}/messages"
    page = b.get(url + "?limit=3").json
    assert [m["content"] for m in page["messages"]] == ["m4", "m5", "m6"] and page["has_more"]
    older = b.get(url + f"?limit=3&before={ids[4]}").json
    assert [m["id"] for m in older["messages"]] == ids[1:4]
    newer = b.get(url + f"?limit=4&after={ids[1]}").json
    assert [m["id"] for m in newer["messages"]] == ids[2:6] and newer["has_more"]
    error(b.get(url + "?limit=0"), "invalid", 400)
    error(b.get(url + "?before=1&after=2"), "invalid", 400)
    drain(sa_, sb, sc)
    assert b.post(f"{API}/groups/{gid}/read", json={"up_to": ids[4]}).status_code == 204
    for s in (sa_, sb, sc):
        assert got(s, "read") == [{"by": uid(b), "conversation": gid, "up_to": ids[4]}]
    assert ok(emit(sc, "read", {"conversation": gid, "up_to": ids[6]}))
    assert got(sb, "read") == [{"by": uid(c), "conversation": gid, "up_to": ids[6]}]
    listing = {x["id"]: x for x in b.get(f"{API}/conversations?limit=10").json["conversations"]}
    assert listing[gid]["unread"] == 2
    listing = {x["id"]: x for x in c.get(f"{API}/conversations?limit=10").json["conversations"]}
    assert listing[gid]["unread"] == 0
    error(b.post(f"{API}/groups/{gid}/read", json={"up_to": "x"}), "invalid", 400)
    error(emit(sb, "read", {"conversation": "x", "up_to": 1}), "invalid")
    error(emit(sb, "read", {"conversation": gid, "with": uid(a), "up_to": 1}), "invalid")


def test_rename_add_remove_leave_and_owner_hand_over(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    sa_, sb, sc, sd = (auth.socket(x) for x in (a, b, c, d))
    drain(sa_, sb, sc, sd)
    error(b.patch(f"{API}/groups/{gid}", json={"title": "Mine"}), "forbidden", 403)
    error(a.patch(f"{API}/groups/{gid}", json={"title": " "}), "invalid", 400)
    r = a.patch(f"{API}/groups/{gid}", json={"title": "Trip 2"})
    assert r.status_code == 200 and r.json["conversation"]["title"] == "Trip 2"
    for s in (sa_, sb, sc):
        assert [e["title"] for e in got(s, "conversation")] == ["Trip 2"]
    first = ok(emit(sb, "chat-to", {"conversation": gid, "content": "before dave"}))["message"]
    error(b.post(f"{API}/groups/{gid}/members", json={"members": [uid(d)]}), "forbidden", 403)
    r = a.post(f"{API}/groups/{gid}/members", json={"members": [uid(d), uid(b)]})
    assert r.status_code == 200
    assert [m["id"] for m in r.json["conversation"]["members"]] == \
        [uid(a), uid(b), uid(c), uid(d)]
    assert [e["id"] for e in got(sd, "conversation")] == [gid]
    # a new member sees the whole history
    page = d.get(f"{API}/groups/{gid}/messages").json
    assert [m["id"] for m in page["messages"]] == [first["id"]]
    # a member removes someone else: forbidden; the owner may
    error(b.delete(f"{API}/groups/{gid}/members/{uid(c)}"), "forbidden", 403)
    error(a.delete(f"{API}/groups/{gid}/members/999999"), "not_found", 404)
    drain(sa_, sb, sc, sd)
    assert a.delete(f"{API}/groups/{gid}/members/{uid(c)}").status_code == 204
    assert got(sc, "conversation-removed") == [{"id": gid}]
    assert [m["id"] for m in got(sb, "conversation")[0]["members"]] == [uid(a), uid(b), uid(d)]
    # removed: no further events, 404 for everything
    ok(emit(sb, "chat-to", {"conversation": gid, "content": "after carol"}))
    assert got(sc, "message") == [] and got(sd, "message") != []
    error(c.get(f"{API}/groups/{gid}/messages"), "not_found", 404)
    # the owner leaves: the earliest-joined remaining member (bob) owns it
    assert a.delete(f"{API}/groups/{gid}/members/{uid(a)}").status_code == 204
    assert got(sa_, "conversation-removed") == [{"id": gid}]
    assert b.get(f"{API}/groups/{gid}").json["conversation"]["owner"] == uid(b)
    # a member leaves on their own
    assert d.delete(f"{API}/groups/{gid}/members/{uid(d)}").status_code == 204
    assert b.get(f"{API}/groups/{gid}").json["conversation"]["members"][0]["id"] == uid(b)


def test_conversations_paged_both_kinds_and_v1_form_unchanged(auth):
    a, b, c = (auth.register(n) for n in ("alice", "bob", "carol"))
    sa_ = auth.socket(a)
    ok(emit(sa_, "chat-to", {"to": uid(b), "content": "direct 1"}))
    gid = a.post(f"{API}/groups", json={"title": "G", "members": [uid(b), uid(c)]}).json[
        "conversation"]["id"]
    ok(emit(sa_, "chat-to", {"to": uid(c), "content": "direct 2"}))
    v1 = a.get(f"{API}/conversations").json
    assert set(v1) == {"conversations"}
    assert [x["kind"] for x in v1["conversations"]] == ["direct", "direct"]
    assert [set(x) for x in v1["conversations"]] == [
        {"id", "kind", "other", "last_message", "unread"}] * 2
    assert [x["other"]["id"] for x in v1["conversations"]] == [uid(c), uid(b)]
    page = a.get(f"{API}/conversations?limit=2").json
    assert [x["kind"] for x in page["conversations"]] == ["direct", "group"]
    assert page["has_more"] is True
    nxt = a.get(f"{API}/conversations?limit=2&before={page['conversations'][-1]['id']}").json
    assert [x["other"]["id"] for x in nxt["conversations"]] == [uid(b)]
    assert nxt["has_more"] is False
    ok(emit(sa_, "chat-to", {"conversation": gid, "content": "group now newest"}))
    first = a.get(f"{API}/conversations?limit=1").json["conversations"][0]
    assert first["id"] == gid and first["last_message"]["content"] == "group now newest"
    assert first["title"] == "G" and first["owner"] == uid(a)
    error(a.get(f"{API}/conversations?limit=0"), "invalid", 400)
    error(a.get(f"{API}/conversations?limit=2&before=987654"), "not_found", 404)


# -- chat-to v2 payloads -----------------------------------------------------

@pytest.mark.parametrize("payload, code", [
    ({"to": "B", "conversation": "G", "content": "x"}, "invalid"),
    ({"conversation": "abc", "content": "x"}, "invalid"),
    ({"conversation": True, "content": "x"}, "invalid"),
    ({"conversation": -1, "content": "x"}, "invalid"),
    ({"conversation": 987654, "content": "x"}, "not_found"),
    ({"conversation": "FOREIGN", "content": "x"}, "not_found"),
    ({"conversation": "G", "content": ""}, "empty"),
    ({"conversation": "G", "content": 7}, "invalid"),
    ({"conversation": "G", "content": "x" * 2001}, "too_long"),
    ({"conversation": "G", "content": "x", "reply_to": "1"}, "invalid"),
    ({"conversation": "G", "content": "x", "reply_to": 987654}, "invalid"),
    ({"conversation": "G", "content": "x", "reply_to": "OTHER_CONV_MSG"}, "invalid"),
    ({"conversation": "G", "content": "x", "attachments": ["up-1"]}, "invalid"),
    ({"conversation": "G", "content": "x", "attachments": "up-1"}, "invalid"),
])
def test_chat_to_v2_refused(trio, auth, payload, code):
    a, b, c, d, conv = trio
    sa_, sb, sd = auth.socket(a), auth.socket(b), auth.socket(d)
    other = ok(emit(sd, "chat-to", {"to": uid(c), "content": "elsewhere"}))["message"]
    foreign = auth.app.test_client()  # a conversation alice is not in
    ids = {"B": uid(b), "G": conv["id"], "FOREIGN": other["conversation"],
           "OTHER_CONV_MSG": other["id"]}
    payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    drain(sb)
    error(emit(sa_, "chat-to", payload), code)
    assert got(sb, "message") == [] and sa_.is_connected(NS)
    ok(emit(sa_, "chat-to", {"conversation": conv["id"], "content": "still fine"}))
    assert [m["content"] for m in got(sb, "message")] == ["still fine"]
    del foreign


def test_direct_conversation_by_id_and_reply_quotes(auth):
    a, b = auth.register("alice"), auth.register("bob")
    sa_, sb = auth.socket(a), auth.socket(b)
    first = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "q" * 300}))["message"]
    cid = first["conversation"]
    reply = ok(emit(sb, "chat-to", {"conversation": cid, "content": "answer",
                                     "reply_to": first["id"]}))["message"]
    assert reply["to"] == uid(a) and reply["conversation"] == cid
    assert reply["reply_to"] == {"id": first["id"], "from": uid(a), "content": "q" * 200,
                                 "deleted": False}
    assert got(sa_, "message") == [reply]
    # addressed by user id, as a v1 client would, the reply is just as good
    again = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "and you",
                                      "reply_to": reply["id"]}))["message"]
    assert again["reply_to"]["id"] == reply["id"] and again["conversation"] == cid
    other = auth.register("carol")
    error(emit(sa_, "chat-to", {"to": uid(other), "content": "x", "reply_to": reply["id"]}),
          "invalid")
    # deleting the original turns every quote into a tombstone
    assert a.delete(f"{API}/messages/{first['id']}").status_code == 204
    page = a.get(f"{API}/conversations/{uid(b)}/messages").json["messages"]
    assert page[0]["deleted"] is True and page[0]["content"] == ""
    assert page[1]["reply_to"] == {"id": first["id"], "from": uid(a), "content": "",
                                   "deleted": True}


# -- edit and delete ------------------------------------------------------------

def test_edit_and_delete_over_socket_and_http(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    a1, a2, b1, c1, d1 = (auth.socket(x) for x in (a, a, b, c, d))
    msg = ok(emit(a1, "chat-to", {"conversation": gid, "content": "tpyo"}))["message"]
    drain(a1, a2, b1, c1, d1)
    edited = ok(emit(a1, "edit", {"id": msg["id"], "content": " typo "}))["message"]
    assert edited["content"] == "typo" and edited["edited_at"] and edited["rev"] > msg["rev"]
    assert got(a1, "message-edited") == []  # not to the connection that made the change
    for s in (a2, b1, c1):
        assert got(s, "message-edited") == [edited]
    assert got(d1, "message-edited") == []
    r = a.patch(f"{API}/messages/{msg['id']}", json={"content": "typo!"})
    assert r.status_code == 200 and r.json["message"]["content"] == "typo!"
    for s in (a1, a2, b1, c1):  # HTTP changes reach the actor's connections too
        assert [m["content"] for m in got(s, "message-edited")] == ["typo!"]
    # others may not edit or delete; the group's owner may delete
    bmsg = ok(emit(b1, "chat-to", {"conversation": gid, "content": "bob's"}))["message"]
    error(emit(c1, "edit", {"id": bmsg["id"], "content": "hacked"}), "forbidden")
    error(c.patch(f"{API}/messages/{bmsg['id']}", json={"content": "x"}), "forbidden", 403)
    error(c.delete(f"{API}/messages/{bmsg['id']}"), "forbidden", 403)
    error(emit(c1, "delete", {"id": bmsg["id"]}), "forbidden")
    error(a.patch(f"{API}/messages/{bmsg['id']}", json={"content": "x"}), "forbidden", 403)
    drain(a1, a2, b1, c1)
    assert ok(emit(a1, "delete", {"id": bmsg["id"]})) == {"ok": True}
    (deleted,) = got(b1, "message-deleted")
    assert deleted["id"] == bmsg["id"] and deleted["conversation"] == gid
    assert deleted["rev"] > bmsg["rev"] and got(a1, "message-deleted") == []
    # a deleted message cannot be edited; the tombstone stays in history
    error(emit(b1, "edit", {"id": bmsg["id"], "content": "back"}), "invalid")
    page = c.get(f"{API}/groups/{gid}/messages").json["messages"]
    assert [(m["id"], m["deleted"], m["content"]) for m in page] == [
        (msg["id"], False, "typo!"), (bmsg["id"], True, "")]


@pytest.mark.parametrize("payload, code", [
    ("x", "invalid"), ({"content": "x"}, "invalid"), ({"id": "1", "content": "x"}, "invalid"),
    ({"id": "MID"}, "invalid"), ({"id": "MID", "content": 3}, "invalid"),
    ({"id": "MID", "content": "  "}, "empty"), ({"id": "MID", "content": "x" * 2001}, "too_long"),
    ({"id": 987654, "content": "x"}, "not_found")])
def test_edit_refused(auth, payload, code):
    a, b = auth.register("alice"), auth.register("bob")
    sa_ = auth.socket(a)
    mid = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "orig"}))["message"]["id"]
    if isinstance(payload, dict):
        payload = {k: mid if v == "MID" else v for k, v in payload.items()}
    error(emit(sa_, "edit", payload), code)
    assert sa_.is_connected(NS)
    assert a.get(f"{API}/conversations/{uid(b)}/messages").json["messages"][0][
        "content"] == "orig"
    if isinstance(payload, dict) and "content" in payload and payload.get("id") == mid:
        r = a.patch(f"{API}/messages/{mid}", json={"content": payload["content"]})
        error(r, code, 400)


def test_edit_window(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'w.sqlite'}",
                      "CHAT_EDIT_WINDOW": 60})
    auth = SeededAuth(app)
    a, b = auth.register("alice"), auth.register("bob")
    sa_ = auth.socket(a)
    mid = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "orig"}))["message"]["id"]
    assert a.patch(f"{API}/messages/{mid}", json={"content": "fresh"}).status_code == 200
    state = app.extensions["chat"]
    with state.engine.begin() as conn:  # sent two minutes ago
        conn.execute(state.table.update().where(state.table.c.id == mid).values(
            sent_at=sa.func.datetime("now", "-120 seconds")))
    error(a.patch(f"{API}/messages/{mid}", json={"content": "late"}), "forbidden", 403)
    assert a.delete(f"{API}/messages/{mid}").status_code == 204  # deleting has no window


def test_json_rules_on_new_endpoints(trio):
    a, b, c, d, conv = trio
    gid = conv["id"]
    r = a.patch(f"{API}/groups/{gid}", data="title=x",
                content_type="application/x-www-form-urlencoded")
    error(r, "unsupported", 415)
    r = a.post(f"{API}/groups", data='{"title": "T"}', content_type="text/plain")
    error(r, "unsupported", 415)
    error(a.post(f"{API}/groups", json=["x"]), "invalid", 400)
    r = a.patch(f"{API}/groups/{gid}", json={"title": "x"}, headers={
        "Origin": "http://evil.example"})
    error(r, "forbidden", 403)
    anon = a.application.test_client()
    for method, path in [("get", "/sync"), ("post", "/groups"), ("get", "/blocks"),
                         ("put", "/blocks/1"), ("delete", "/messages/1")]:
        error(getattr(anon, method)(API + path), "unauthorized", 401)


# -- sync -----------------------------------------------------------------------

def test_sync_pages_through_creates_edits_and_deletes(trio, auth):
    a, b, c, d, conv = trio
    gid = conv["id"]
    sa_, sd = auth.socket(a), auth.socket(d)
    start = b.get(f"{API}/sync").json
    assert start["messages"] == [] and start["has_more"] is False
    since = start["rev"]
    m = [ok(emit(sa_, "chat-to", {"conversation": gid, "content": f"g{i}"}))["message"]
         for i in range(5)]
    direct = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "dm"}))["message"]
    ok(emit(sd, "chat-to", {"to": uid(c), "content": "not bob's"}))
    ok(emit(sa_, "edit", {"id": m[1]["id"], "content": "g1 edited"}))
    ok(emit(sa_, "delete", {"id": m[2]["id"]}))
    seen, cursor, pages = [], since, 0
    while True:
        page = b.get(f"{API}/sync?since={cursor}&limit=2").json
        pages += 1
        seen += page["messages"]
        assert page["rev"] >= cursor
        cursor = page["rev"]
        if not page["has_more"]:
            break
    assert pages == 3
    assert [x["id"] for x in seen] == [m[0]["id"], m[3]["id"], m[4]["id"], direct["id"],
                                        m[1]["id"], m[2]["id"]]
    assert [x["rev"] for x in seen] == sorted(x["rev"] for x in seen)
    byid = {x["id"]: x for x in seen}
    assert byid[m[1]["id"]]["content"] == "g1 edited" and byid[m[2]["id"]]["deleted"] is True
    assert cursor == seen[-1]["rev"]
    again = b.get(f"{API}/sync?since={cursor}").json
    assert again == {"messages": [], "rev": cursor, "has_more": False}
    error(b.get(f"{API}/sync?since=-1"), "invalid", 400)
    error(b.get(f"{API}/sync?since=x"), "invalid", 400)
    error(b.get(f"{API}/sync?since=0&limit=0"), "invalid", 400)
    # a member who left gets nothing more from the group
    assert c.delete(f"{API}/groups/{gid}/members/{uid(c)}").status_code == 204
    mark = c.get(f"{API}/sync").json["rev"]
    ok(emit(sa_, "chat-to", {"conversation": gid, "content": "after carol left"}))
    assert c.get(f"{API}/sync?since={mark}").json["messages"] == []


# -- blocks ----------------------------------------------------------------------

def test_blocks(auth):
    a, b, c = (auth.register(n) for n in ("alice", "bob", "carol"))
    sa_, sb, sc = auth.socket(a), auth.socket(b), auth.socket(c)
    ok(emit(sa_, "chat-to", {"to": uid(b), "content": "hi"}))
    gid = c.post(f"{API}/groups", json={"title": "G", "members": [uid(a), uid(b)]}).json[
        "conversation"]["id"]
    drain(sa_, sb, sc)
    assert b.put(f"{API}/blocks/{uid(a)}").status_code == 204
    assert b.put(f"{API}/blocks/{uid(a)}").status_code == 204  # idempotent
    assert [u["id"] for u in b.get(f"{API}/blocks").json["users"]] == [uid(a)]
    assert a.get(f"{API}/blocks").json["users"] == []
    # alice sees bob (the blocker) offline and got his presence "offline"
    assert got(sa_, "presence") == [{"user_id": uid(b), "online": False}]
    conv = a.get(f"{API}/conversations").json["conversations"][0]
    assert conv["other"]["id"] == uid(b) and conv["other"]["online"] is False
    assert b.get(f"{API}/conversations").json["conversations"][0]["other"]["online"] is True
    users = {u["id"]: u["online"] for u in a.get(f"{API}/users?q=").json["users"]}
    assert users[uid(b)] is False
    # both directions refused for direct sends and typing
    error(emit(sa_, "chat-to", {"to": uid(b), "content": "x"}), "blocked")
    error(emit(sb, "chat-to", {"to": uid(a), "content": "x"}), "blocked")
    error(emit(sa_, "typing", {"to": uid(b)}), "blocked")
    error(emit(sb, "typing", {"to": uid(a)}), "blocked")
    # a group naming the blocker is refused; one naming the blocked one is not
    error(a.post(f"{API}/groups", json={"title": "T", "members": [uid(b)]}), "blocked", 403)
    assert b.post(f"{API}/groups", json={"title": "T", "members": [uid(a)]}).status_code == 201
    drain(sa_, sb, sc)
    # groups are unaffected, but typing from the blocker stops reaching the blocked
    ok(emit(sb, "chat-to", {"conversation": gid, "content": "group ok"}))
    assert [m["content"] for m in got(sa_, "message")] == ["group ok"]
    ok(emit(sb, "typing", {"conversation": gid}))
    assert got(sa_, "typing") == [] and got(sc, "typing") == [{"from": uid(b),
                                                               "conversation": gid}]
    ok(emit(sa_, "typing", {"conversation": gid}))
    assert got(sb, "typing") == [{"from": uid(a), "conversation": gid}]
    members = {m["id"]: m["online"] for m in a.get(f"{API}/groups/{gid}").json[
        "conversation"]["members"]}
    assert members[uid(b)] is False and members[uid(c)] is True
    # no presence from the blocker while blocked
    sb.disconnect(namespace=NS)
    assert got(sa_, "presence") == [] and got(sc, "presence") == [
        {"user_id": uid(b), "online": False}]
    sb = auth.socket(b)
    assert got(sa_, "presence") == []
    error(b.put(f"{API}/blocks/{uid(b)}"), "invalid", 400)
    error(b.put(f"{API}/blocks/999999"), "unknown_user", 404)
    error(b.put(f"{API}/blocks/xyz"), "unknown_user", 404)
    assert b.delete(f"{API}/blocks/{uid(a)}").status_code == 204
    assert got(sa_, "presence") == [{"user_id": uid(b), "online": True}]
    ok(emit(sa_, "chat-to", {"to": uid(b), "content": "friends again"}))


# -- settings and hooks -------------------------------------------------------------

def test_groups_turned_off(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'o.sqlite'}",
                      "CHAT_GROUPS": False})
    auth = SeededAuth(app)
    a, b = auth.register("alice"), auth.register("bob")
    error(a.post(f"{API}/groups", json={"title": "T", "members": [uid(b)]}), "not_found", 404)
    sa_ = auth.socket(a)
    msg = ok(emit(sa_, "chat-to", {"to": uid(b), "content": "direct still works"}))["message"]
    ok(emit(sa_, "chat-to", {"conversation": msg["conversation"], "content": "by id too"}))
    assert [x["kind"] for x in a.get(f"{API}/conversations?limit=5").json[
        "conversations"]] == ["direct"]


def test_can_message_hook_applies_to_groups(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "SOCKETIO_ASYNC_MODE": "threading",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'h.sqlite'}"})
    state = app.extensions["chat"]
    state.hooks["can_message"] = lambda s, r: r.username != "carol"
    auth = SeededAuth(app)
    a, b, c = (auth.register(n) for n in ("alice", "bob", "carol"))
    error(a.post(f"{API}/groups", json={"title": "T", "members": [uid(b), uid(c)]}),
          "forbidden", 403)
    gid = a.post(f"{API}/groups", json={"title": "T", "members": [uid(b)]}).json[
        "conversation"]["id"]
    error(a.post(f"{API}/groups/{gid}/members", json={"members": [uid(c)]}), "forbidden", 403)
    assert [m["id"] for m in a.get(f"{API}/groups/{gid}").json["conversation"]["members"]] == \
        [uid(a), uid(b)]


def test_rev_is_strictly_increasing_under_concurrent_writers(app, auth):
    """Many threads sending, editing and deleting at once: every rev distinct,
    and each message's rev grows with each change."""
    from concurrent.futures import ThreadPoolExecutor

    a, b = auth.register("alice"), auth.register("bob")
    state = app.extensions["chat"]
    from chatapp import services

    def work(i):
        with app.app_context():
            ack = services.send_message(state, uid(a), {"to": uid(b), "content": f"m{i}"})
            m = ack["message"]
            edited = services.edit_message(state, uid(a), m["id"], {"content": f"e{i}"})
            assert edited["rev"] > m["rev"]
            return m["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(work, range(40)))
    t = state.table
    with state.engine.connect() as conn:
        revs = conn.execute(sa.select(t.c.rev).where(t.c.id.in_(ids))).scalars().all()
        top = state.store.current_rev(conn)
    assert len(set(revs)) == 40 and max(revs) == top


@pytest.mark.parametrize("event, payload, code", [
    ("typing", {"conversation": "G", "to": "B"}, "invalid"),
    ("typing", {"conversation": "x"}, "invalid"),
    ("typing", {"conversation": 987654}, "not_found"),
    ("typing", {"conversation": "FOREIGN"}, "not_found"),
    ("read", {"conversation": "G"}, "invalid"),
    ("read", {"conversation": "G", "up_to": -1}, "invalid"),
    ("read", {"conversation": "FOREIGN", "up_to": 1}, "not_found"),
    ("read", ["G"], "invalid"),
    ("delete", {"id": "1"}, "invalid"),
    ("delete", {}, "invalid"),
    ("delete", 5, "invalid"),
    ("delete", {"id": 987654}, "not_found"),
    ("delete", {"id": "FOREIGN_MSG"}, "not_found"),
    ("edit", {"id": "FOREIGN_MSG", "content": "x"}, "not_found"),
    ("edit", {"id": "BOBS_MSG", "content": "x"}, "forbidden"),
    ("delete", {"id": "BOBS_MSG"}, "forbidden"),
])
def test_socket_v2_events_refused(trio, auth, event, payload, code):
    a, b, c, d, conv = trio
    gid = conv["id"]
    sc, sd = auth.socket(c), auth.socket(d)
    foreign = ok(emit(sd, "chat-to", {"to": uid(a), "content": "not carol's"}))["message"]
    bobs = ok(emit(auth.socket(b), "chat-to", {"conversation": gid, "content": "bob"}))["message"]
    ids = {"G": gid, "B": uid(b), "FOREIGN": foreign["conversation"],
           "FOREIGN_MSG": foreign["id"], "BOBS_MSG": bobs["id"]}
    if isinstance(payload, dict):
        payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    elif isinstance(payload, list):
        payload = [ids.get(v, v) for v in payload]
    drain(sc)
    error(emit(sc, event, payload), code)
    assert sc.is_connected(NS)
    assert ok(emit(sc, "typing", {"conversation": gid}))  # the connection keeps working
    page = a.get(f"{API}/groups/{gid}/messages").json["messages"]
    assert [(m["content"], m["deleted"]) for m in page] == [("bob", False)]


def test_a_refused_first_message_makes_no_conversation(auth):
    a, b = auth.register("alice"), auth.register("bob")
    sa_ = auth.socket(a)
    assert b.put(f"{API}/blocks/{uid(a)}").status_code == 204
    error(emit(sa_, "chat-to", {"to": uid(b), "content": "hi"}), "blocked")
    assert a.get(f"{API}/conversations?limit=10").json["conversations"] == []
    assert b.get(f"{API}/sync").json["rev"] == 0
    state = auth.app.extensions["chat"]
    with state.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            state.tables["conversation"])).scalar() == 0


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_db_app(request, tmp_path):
    from dbapps import chat_app
    with chat_app(request.param, tmp_path) as app:
        yield app


def test_group_users_names_members_and_former_members(any_db_app):
    """GET /groups/<id>/users?id=…: the names a group's history needs, those of
    members who left or were removed included (extension of v2.0)."""
    from chatapp import users as chat_users
    from chatapp.standalone.models import User, db

    app = any_db_app
    auth = SeededAuth(app)
    a, b, c, d, e, f = (auth.register(n) for n in ("alice", "bob", "carol", "dave", "erin",
                                                   "frank"))
    gid = a.post(f"{API}/groups", json={"title": "Trip", "members": [
        uid(b), uid(c), uid(d), uid(f)]}).json["conversation"]["id"]
    socks = {x: auth.socket(x) for x in (a, b, c, f)}
    for x in (b, c, f):
        ok(emit(socks[x], "chat-to", {"conversation": gid, "content": f"hi from {x.user['username']}"}))
    assert c.delete(f"{API}/groups/{gid}/members/{uid(c)}").status_code == 204  # carol leaves
    assert a.delete(f"{API}/groups/{gid}/members/{uid(b)}").status_code == 204  # bob is removed
    assert a.delete(f"{API}/groups/{gid}/members/{uid(f)}").status_code == 204  # frank too...
    with app.app_context():  # ...and then his account is gone, his messages kept (a host may)
        db.session.delete(db.session.get(User, uid(f)))
        db.session.commit()
    chat_users.forget(app.extensions["chat"], uid(f))

    asked = [uid(c), uid(b), uid(d), uid(e), uid(f), uid(a), uid(c), 987654, "abc"]
    r = a.get(f"{API}/groups/{gid}/users", query_string={"id": asked})
    assert r.status_code == 200, r.json
    # In the order asked, each once: the former members who wrote (no presence
    # for them), the members (with it); never erin (not in the group), frank
    # (no account) or ids nobody has.
    assert r.json["users"] == [
        {"id": uid(c), "username": "carol", "avatar": f"/chat/avatar/{uid(c)}.svg"},
        {"id": uid(b), "username": "bob", "avatar": f"/chat/avatar/{uid(b)}.svg"},
        {"id": uid(d), "username": "dave", "avatar": f"/chat/avatar/{uid(d)}.svg",
         "online": False},
        {"id": uid(a), "username": "alice", "avatar": f"/chat/avatar/{uid(a)}.svg",
         "online": True}]
    assert d.get(f"{API}/groups/{gid}/users").json == {"users": []}
    # Only members ask: a former member or an outsider gets 404, as for any group URL.
    for who in (c, e):
        error(who.get(f"{API}/groups/{gid}/users", query_string={"id": [uid(a)]}),
              "not_found", 404)
    error(a.get(f"{API}/groups/987654/users", query_string={"id": [uid(a)]}), "not_found", 404)
    error(a.get(f"{API}/groups/{gid}/users", query_string={"id": list(range(1, 102))}),
          "invalid", 400)
    assert app.test_client().get(f"{API}/groups/{gid}/users").status_code == 401
