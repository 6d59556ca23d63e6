"""Attachments in messages and message search, on SQLite, PostgreSQL and MariaDB."""
import os
import secrets

import pytest
import sqlalchemy as sa

import dbapps
import uploadfiles as files
from dbapps import API, DATABASES, NS, chat_app


@pytest.fixture(params=list(DATABASES))
def app(request, tmp_path):
    with chat_app(request.param, tmp_path, CHAT_UPLOAD_STORAGE=str(tmp_path / "uploads")) as app:
        yield app


class User(dbapps.User):
    def search(self, q, **params):
        return self.http.get(f"{API}/search", query_string={"q": q, **params})


@pytest.fixture
def people(app):
    return [User(app, n) for n in ("alice", "bob", "carol", "dave")]


def message_count(app):
    t = app.extensions["chat"].table
    with app.extensions["chat"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()


def messages_of(sock):
    return [e["args"][0] if isinstance(e["args"], list) else e["args"]
            for e in sock.get_received(NS) if e["name"] == "message"]


# -- attachments -----------------------------------------------------------

def test_attachments_travel_with_the_message(app, people):
    alice, bob, carol, _ = people
    photo = alice.upload(files.jpeg_with_gps(), "photo.jpg")
    doc = alice.upload(files.pdf(), "plan.pdf")
    bob.sock.get_received(NS)
    ack = alice.send("", to=bob.id, attachments=[photo["id"], doc["id"]])
    assert ack["ok"], ack
    message = ack["message"]
    assert message["content"] == "" and message["attachments"] == [photo, doc]
    assert messages_of(bob.sock)[0]["attachments"] == [photo, doc]
    for url in (photo["url"], photo["thumb_url"], doc["url"]):
        assert bob.fetch(url) == 200 and alice.fetch(url) == 200
        assert carol.fetch(url) == 404 and app.test_client().get(url).status_code == 404
    page = bob.http.get(f"{API}/conversations/{alice.id}/messages").json
    assert page["messages"][-1]["attachments"] == [photo, doc]
    sync = bob.http.get(f"{API}/sync?since=0").json
    assert sync["messages"][-1]["attachments"] == [photo, doc]
    convs = bob.http.get(f"{API}/conversations").json["conversations"]
    assert convs[0]["last_message"]["attachments"] == [photo, doc]
    # Sent uploads are never "unsent": cleanup leaves them.
    assert app.extensions["chat"].uploads.cleanup(older_than=0) == 0
    assert bob.fetch(doc["url"]) == 200


def test_text_and_attachment_and_resend(app, people):
    alice, bob, _, _ = people
    note = alice.upload(b"shopping list\n", "list.txt")
    ack = alice.send("see the list", to=bob.id, attachments=[note["id"]], client_id="c1")
    assert ack["ok"] and ack["message"]["attachments"] == [note]
    again = alice.send("see the list", to=bob.id, attachments=[note["id"]], client_id="c1")
    assert again["ok"] and again.get("duplicate") is True
    assert again["message"]["id"] == ack["message"]["id"]
    assert again["message"]["attachments"] == [note]
    assert alice.send("   ", to=bob.id)["error"]["code"] == "empty"


def test_bad_attachments_are_invalid_and_store_nothing(app, people):
    alice, bob, carol, _ = people
    mine = alice.upload(b"mine\n", "a.txt")
    theirs = carol.upload(b"theirs\n", "c.txt")
    sent = alice.upload(b"sent\n", "s.txt")
    assert alice.send("x", to=bob.id, attachments=[sent["id"]])["ok"]
    before = message_count(app)
    for bad in ([secrets.token_hex(16)], [theirs["id"]], [sent["id"]], [mine["id"], mine["id"]],
                [mine["id"]] * 11, "not a list", [17], [mine["id"][:-1]], [None],
                [mine["id"], theirs["id"]]):
        ack = alice.send("hi", to=bob.id, attachments=bad)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (bad, ack)
    assert message_count(app) == before
    # The upload named beside a bad one is still free to send.
    ack = alice.send("", to=bob.id, attachments=[mine["id"]])
    assert ack["ok"] and ack["message"]["attachments"] == [mine]
    assert carol.fetch(theirs["url"]) == 200 and bob.fetch(theirs["url"]) == 404


def test_eleven_uploads_are_too_many_ten_are_fine(app, people):
    alice, bob, _, _ = people
    ids = [alice.upload(f"file {i}\n".encode(), f"f{i}.txt")["id"] for i in range(11)]
    assert alice.send("", to=bob.id, attachments=ids)["error"]["code"] == "invalid"
    ack = alice.send("", to=bob.id, attachments=ids[:10])
    assert ack["ok"] and [a["id"] for a in ack["message"]["attachments"]] == ids[:10]


def test_group_files_follow_membership_and_deletion(app, people):
    alice, bob, carol, dave = people
    r = alice.http.post(f"{API}/groups", json={"title": "Trip", "members": [bob.id, carol.id]})
    gid = r.json["conversation"]["id"]
    pic = alice.upload(files.png(), "map.png")
    ack = alice.send("the map", conversation=gid, attachments=[pic["id"]])
    assert ack["ok"], ack
    assert [bob.fetch(pic["url"]), carol.fetch(pic["url"]), dave.fetch(pic["url"])] == \
        [200, 200, 404]
    assert alice.http.delete(f"{API}/groups/{gid}/members/{bob.id}").status_code == 204
    assert bob.fetch(pic["url"]) == 404 and bob.fetch(pic["thumb_url"]) == 404
    assert carol.fetch(pic["url"]) == 200
    assert alice.http.delete(f"{API}/messages/{ack['message']['id']}").status_code == 204
    assert carol.fetch(pic["url"]) == 404 and alice.fetch(pic["url"]) == 404
    page = carol.http.get(f"{API}/groups/{gid}/messages").json["messages"]
    assert page[-1]["deleted"] is True and page[-1]["attachments"] == []


def stored_keys(app):
    """The keys of every file in the upload folder (thumbnails as ``<key>.thumb``)."""
    root = app.extensions["chat"].uploads.storage.root
    return {name for _, _, names in os.walk(root) for name in names}


def events_of(sock, name):
    return [e["args"][0] if isinstance(e["args"], list) else e["args"]
            for e in sock.get_received(NS) if e["name"] == name]


def test_a_deleted_account_leaves_tombstones_that_sync_and_live_clients_hear_of(app, people):
    alice, bob, carol, _ = people
    gid = alice.http.post(f"{API}/groups", json={"title": "Trip", "members": [
        bob.id, carol.id]}).json["conversation"]["id"]
    pic = alice.upload(files.png(), "map.png")
    doc = alice.upload(files.pdf(), "plan.pdf")
    unsent = alice.upload(files.pdf(), "draft.pdf")
    said = [alice.send("the map", conversation=gid, attachments=[pic["id"]]),
            alice.send("see you", conversation=gid)]
    theirs = bob.send("thanks", conversation=gid, reply_to=said[0]["message"]["id"])
    direct = alice.send("just us", to=bob.id, attachments=[doc["id"]])
    bobs_file = bob.upload(files.png(), "reply.png")
    answer = bob.send("", to=alice.id, attachments=[bobs_file["id"]])
    assert all(a["ok"] for a in said + [theirs, direct, answer])
    assert stored_keys(app) >= {pic["id"], pic["id"] + ".thumb", doc["id"], unsent["id"],
                                bobs_file["id"]}
    since = bob.http.get(f"{API}/sync").json["rev"]
    bob.sock.get_received(NS)

    assert alice.http.delete("/auth/account").status_code == 204

    # Live: every group message of hers is deleted on screen, the direct
    # conversation goes from the list.
    received = bob.sock.get_received(NS)
    deleted = [e["args"][0] for e in received if e["name"] == "message-deleted"]
    assert sorted(d["id"] for d in deleted) == sorted(a["message"]["id"] for a in said)
    assert {d["conversation"] for d in deleted} == {gid}
    assert [e["args"][0] for e in received if e["name"] == "conversation-removed"] == [
        {"id": direct["message"]["conversation"]}]
    assert {d["id"] for d in events_of(carol.sock, "message-deleted")} == {
        a["message"]["id"] for a in said}
    # Later: sync from before has the same tombstones, with the revs the events gave.
    sync = bob.http.get(f"{API}/sync", query_string={"since": since}).json
    tombs = {m["id"]: m for m in sync["messages"] if m["deleted"]}
    assert {i: m["rev"] for i, m in tombs.items()} == {d["id"]: d["rev"] for d in deleted}
    assert all(m["content"] == "" and m["attachments"] == [] for m in tombs.values())
    page = carol.http.get(f"{API}/groups/{gid}/messages").json["messages"]
    assert [(m["deleted"], m["content"]) for m in page] == [
        (True, ""), (True, ""), (False, "thanks")]
    assert page[-1]["reply_to"] == {"id": said[0]["message"]["id"], "from": alice.id,
                                    "content": "", "deleted": True}
    # Every file of hers and every file of the direct conversation is gone from storage.
    assert not stored_keys(app) & {pic["id"], pic["id"] + ".thumb", doc["id"], unsent["id"],
                                   bobs_file["id"], bobs_file["id"] + ".thumb"}
    assert bob.fetch(bobs_file["url"]) == 404 and carol.fetch(pic["url"]) == 404
    ut = app.extensions["chat"].tables["upload"]
    with app.extensions["chat"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ut)).scalar() == 0


def test_forgetting_a_user_goes_through_every_batch(app, people):
    from chatapp import services
    alice, bob, _, _ = people
    gid = alice.http.post(f"{API}/groups", json={"title": "Many", "members": [
        bob.id]}).json["conversation"]["id"]
    ids = [alice.send(f"n{i}", conversation=gid)["message"]["id"] for i in range(5)]
    bob.sock.get_received(NS)
    with app.app_context():
        services.forget_user(app.extensions["chat"], alice.id, batch=2)
    events = events_of(bob.sock, "message-deleted")
    assert sorted(e["id"] for e in events) == ids
    assert len({e["rev"] for e in events}) == 5
    page = bob.http.get(f"{API}/groups/{gid}/messages").json["messages"]
    assert [m["deleted"] for m in page] == [True] * 5


# -- search ----------------------------------------------------------------

@pytest.fixture(params=["index", "scan"])
def way(request, app):
    """Each search test runs twice: answered by the database's trigram index
    (every caller counts as large), and by reading the caller's conversations."""
    app.extensions["chat"].searcher.scan_max = 0 if request.param == "index" else 10**9
    return request.param


def statements(app):
    """Every SQL statement the app runs from now on (a list that fills)."""
    seen = []
    sa.event.listen(app.extensions["chat"].engine, "before_cursor_execute",
                    lambda conn, cursor, stmt, *a: seen.append(stmt))
    return seen


def test_the_index_answers_three_characters_and_more(app, people, way):
    alice, bob, _, _ = people
    assert alice.send("明天去咖啡馆", to=bob.id)["ok"]
    seen = statements(app)
    assert hits(bob.search("咖啡馆")) == ["明天去咖啡馆"]
    dialect = app.extensions["chat"].engine.dialect.name
    used = {"sqlite": "MATCH", "postgresql": "ILIKE"}.get(dialect)
    searched = [st for st in seen if "chat_message" in st and "ORDER BY" in st]
    if way == "index" and used:
        assert any(used in st for st in searched), searched
    else:
        assert not any(w in st for st in searched for w in ("MATCH", "ILIKE")), searched
    seen.clear()
    assert hits(bob.search("咖啡")) == ["明天去咖啡馆"]  # two: never the index
    assert not any(w in st for st in seen for w in ("MATCH", "ILIKE")), seen

def hits(resp):
    assert resp.status_code == 200, resp.json
    return [r["message"]["content"] for r in resp.json["results"]]


def test_any_script_case_insensitive_newest_first(app, way, people):
    alice, bob, _, _ = people
    for text in ("明天去咖啡馆", "Hello World", "ÄPFEL und Birnen", "咖啡很好喝", "nothing here"):
        assert alice.send(text, to=bob.id)["ok"]
    assert hits(bob.search("咖啡")) == ["咖啡很好喝", "明天去咖啡馆"]
    assert hits(bob.search("咖啡馆")) == ["明天去咖啡馆"]
    assert hits(bob.search("去咖啡馆")) == ["明天去咖啡馆"]
    assert hits(bob.search("hello")) == ["Hello World"]
    assert hits(bob.search("LO WOR")) == ["Hello World"]
    assert hits(bob.search("äpfel")) == ["ÄPFEL und Birnen"]
    assert hits(bob.search("äp")) == ["ÄPFEL und Birnen"]
    assert hits(bob.search("zz")) == []
    result = bob.search("World").json["results"][0]
    assert result["conversation"]["kind"] == "direct"
    assert result["conversation"]["other"]["id"] == alice.id
    assert result["message"]["conversation"] == result["conversation"]["id"]


def test_only_my_current_conversations_and_never_deleted(app, way, people):
    alice, bob, carol, dave = people
    assert alice.send("secret plan alpha", to=bob.id)["ok"]
    r = alice.http.post(f"{API}/groups", json={"title": "G", "members": [bob.id, carol.id]})
    gid = r.json["conversation"]["id"]
    assert alice.send("group plan beta", conversation=gid)["ok"]
    gone = alice.send("deleted plan gamma", to=bob.id)["message"]["id"]
    assert alice.http.delete(f"{API}/messages/{gone}").status_code == 204
    edited = alice.send("old words", to=bob.id)["message"]["id"]
    assert alice.http.patch(f"{API}/messages/{edited}", json={"content": "new plan words"}) \
        .status_code == 200
    assert hits(bob.search("plan")) == ["new plan words", "group plan beta", "secret plan alpha"]
    assert hits(bob.search("old words")) == []
    assert hits(carol.search("plan")) == ["group plan beta"]
    assert hits(dave.search("plan")) == []
    assert hits(bob.search("gamma")) == []
    # A member who leaves no longer finds the group's messages.
    assert bob.http.delete(f"{API}/groups/{gid}/members/{bob.id}").status_code == 204
    assert hits(bob.search("plan")) == ["new plan words", "secret plan alpha"]


def test_paging_and_conversation_filter(app, way, people):
    alice, bob, carol, _ = people
    for i in range(7):
        assert alice.send(f"note {i}", to=bob.id)["ok"]
        assert carol.send(f"note {i} from carol", to=bob.id)["ok"]
    first = bob.search("note", limit=5).json
    assert first["has_more"] is True and len(first["results"]) == 5
    ids = [r["message"]["id"] for r in first["results"]]
    assert ids == sorted(ids, reverse=True)
    seen = ids
    before = ids[-1]
    while True:
        page = bob.search("note", limit=5, before=before).json
        seen += [r["message"]["id"] for r in page["results"]]
        if not page["has_more"]:
            break
        before = seen[-1]
    assert len(seen) == len(set(seen)) == 14 and seen == sorted(seen, reverse=True)
    conv = alice.send("note 7", to=bob.id)["message"]["conversation"]
    only = bob.search("note", conversation=conv, limit=100).json["results"]
    assert len(only) == 8 and {r["message"]["from"] for r in only} == {alice.id}
    assert hits(bob.search("no", conversation=conv, limit=100)) == \
        [f"note {i}" for i in range(7, -1, -1)]
    r = carol.search("note", conversation=conv)
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("q", ["a", " b ", "x" * 101, "y" * 1000, "", "  ", "\x00a"])
def test_bad_queries(app, people, q):
    r = people[0].search(q)
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"before": "-1"},
                                    {"conversation": "abc"}])
def test_bad_paging(app, people, params):
    r = people[0].search("hello", **params)
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid"


def test_syntax_in_q_is_plain_text(app, way, people):
    alice, bob, _, _ = people
    texts = ['say "hi" now', "a*b glob", "NEAR(x y) call", "100% sure", "snake_case",
             "back\\slash", "it's'; DROP TABLE x; --", "plain words only", "a OR b"]
    for text in texts:
        assert alice.send(text, to=bob.id)["ok"]
    assert hits(bob.search('"hi"')) == ['say "hi" now']
    assert hits(bob.search('"h')) == ['say "hi" now']
    assert hits(bob.search("a*b")) == ["a*b glob"]
    assert hits(bob.search("*b")) == ["a*b glob"]
    assert hits(bob.search("NEAR(")) == ["NEAR(x y) call"]
    assert hits(bob.search("0%")) == ["100% sure"]
    assert hits(bob.search("% s")) == ["100% sure"]
    assert hits(bob.search("e_c")) == ["snake_case"]
    assert hits(bob.search("_c")) == ["snake_case"]
    assert hits(bob.search("k\\s")) == ["back\\slash"]
    assert hits(bob.search("'; DROP")) == ["it's'; DROP TABLE x; --"]
    assert hits(bob.search("a OR b")) == ["a OR b"]
    assert hits(bob.search("OR b")) == ["a OR b"]
    assert hits(bob.search("%%")) == []
    assert hits(bob.search("__")) == []
    # ...and the database is whole.
    assert len(bob.http.get(f"{API}/conversations/{alice.id}/messages?limit=100")
               .json["messages"]) == len(texts)


def test_search_needs_login(app):
    r = app.test_client().get(f"{API}/search?q=hello")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
