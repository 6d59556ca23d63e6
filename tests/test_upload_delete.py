"""DELETE /chat/api/uploads/<id>: an uploader takes back a file not sent yet,
on SQLite, PostgreSQL and MariaDB, with the folder and the S3 storage."""
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

import uploadfiles as files
from chatapp.errors import ChatError
from chatapp.uploads import CLAIM_TIMEOUT
from dbapps import API, DATABASES, User, chat_app
from s3server import S3_OPTIONS, bucket, s3_server  # noqa: F401 (fixtures)


class Folder:
    """What the folder storage holds: every stored key."""

    def __init__(self, root):
        self.root = root
        self.setting, self.options = str(root), {}

    def keys(self):
        return sorted(n for _, _, ns in os.walk(self.root) for n in ns)


class Bucket:
    """What the bucket holds, under chat's prefix."""

    def __init__(self, name, client, endpoint):
        self.name, self.client = name, client
        self.setting = f"s3://{name}/chat"
        self.options = {"endpoint_url": endpoint, **S3_OPTIONS}

    def keys(self):
        found = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return sorted(o["Key"].removeprefix("chat/") for o in found)


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    if request.param == "folder":
        return Folder(tmp_path / "uploads")
    name, client = request.getfixturevalue("bucket")
    return Bucket(name, client, request.getfixturevalue("s3_server"))


@pytest.fixture(params=list(DATABASES))
def app(request, tmp_path, store):
    with chat_app(request.param, tmp_path, CHAT_UPLOAD_STORAGE=store.setting,
                  CHAT_UPLOAD_S3=store.options) as app:
        yield app


@pytest.fixture
def people(app):
    return [User(app, n) for n in ("alice", "bob")]


def stored_keys(att):
    return sorted([att["id"]] + ([att["id"] + ".thumb"] if "thumb_url" in att else []))


def message_count(app):
    t = app.extensions["chat"].table
    with app.extensions["chat"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()


def test_the_uploader_takes_back_an_unsent_upload(app, store, people):
    alice, bob = people
    photo = alice.upload(files.jpeg_with_gps(), "photo.jpg")
    note = alice.upload(b"keep this one\n", "note.txt")
    assert store.keys() == sorted(stored_keys(photo) + stored_keys(note))

    r = alice.http.delete(f"{API}/uploads/{photo['id']}")
    assert r.status_code == 204 and r.data == b""
    # The file and its thumbnail are gone from the storage, its row too.
    assert store.keys() == stored_keys(note)
    assert alice.fetch(photo["url"]) == 404 and alice.fetch(photo["thumb_url"]) == 404
    again = alice.http.delete(f"{API}/uploads/{photo['id']}")
    assert again.status_code == 404 and again.json["error"]["code"] == "not_found"
    # It can no longer be sent; the other one still can.
    ack = alice.send("", to=bob.id, attachments=[photo["id"]])
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    ack = alice.send("", to=bob.id, attachments=[note["id"]])
    assert ack["ok"] and ack["message"]["attachments"] == [note]
    assert bob.fetch(note["url"]) == 200


def test_refusals_change_nothing(app, store, people):
    alice, bob = people
    mine = alice.upload(files.png(), "p.png")
    url = f"{API}/uploads/{mine['id']}"
    anon = app.test_client().delete(url)
    assert anon.status_code == 401 and anon.json["error"]["code"] == "unauthorized"
    # Someone else's upload is "not found", exactly as an id that never existed.
    for who, path in ((bob, url), (alice, f"{API}/uploads/{'0' * 32}"),
                      (alice, f"{API}/uploads/short"), (alice, f"{API}/uploads/{'x' * 40}")):
        r = who.http.delete(path)
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found", path
    # The JSON endpoints' rules: a foreign origin is refused, a body must be JSON.
    r = alice.http.delete(url, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    r = alice.http.delete(url, data="x", content_type="text/plain")
    assert r.status_code == 415 and r.json["error"]["code"] == "unsupported"
    assert store.keys() == stored_keys(mine) and alice.fetch(mine["url"]) == 200

    # Once a message carries it, it goes only with the message: 409 `taken`.
    ack = alice.send("look", to=bob.id, attachments=[mine["id"]])
    assert ack["ok"], ack
    r = alice.http.delete(url)
    assert r.status_code == 409 and r.json["error"]["code"] == "taken"
    assert r.json["error"]["message"]
    assert bob.http.delete(url).status_code == 404  # a recipient cannot either
    assert store.keys() == stored_keys(mine)
    assert bob.fetch(mine["url"]) == 200 and bob.fetch(mine["thumb_url"]) == 200
    # A JSON body is fine (and ignored); the answer is still `taken`.
    assert alice.http.delete(url, json={}).status_code == 409


def test_a_send_holding_the_upload_wins_over_a_delete(app, store, people):
    """The race with ``chat-to``, step by step: a send holds (claims) its uploads
    until the message is stored; a delete in between is refused, and the
    message keeps a file that exists."""
    alice, bob = people
    state = app.extensions["chat"]
    uploads = state.uploads
    first = alice.send("hello", to=bob.id)
    assert first["ok"]
    cid = first["message"]["conversation"]
    photo = alice.upload(files.png(), "held.png")

    token, held = uploads.claim(alice.id, [photo["id"]])  # what chat-to does first
    assert held == [photo]
    r = alice.http.delete(f"{API}/uploads/{photo['id']}")
    assert r.status_code == 409 and r.json["error"]["code"] == "taken"
    assert store.keys() == stored_keys(photo)
    # ...then it stores the message, linking the held upload in that transaction.
    row, created = state.store.insert(
        {"conversation_id": cid, "sender_id": alice.id, "recipient_id": bob.id,
         "content": "held", "client_id": None, "reply_to_id": None},
        check_blocks=True, link=uploads.linker(token, [photo["id"]]))
    uploads.release(token)
    assert created
    page = bob.http.get(f"{API}/conversations/{alice.id}/messages").json["messages"]
    assert page[-1]["content"] == "held" and page[-1]["attachments"] == [photo]
    assert bob.fetch(photo["url"]) == 200 and bob.fetch(photo["thumb_url"]) == 200
    assert alice.http.delete(f"{API}/uploads/{photo['id']}").status_code == 409

    # A send that let go of its uploads (a failure, a resend) leaves them free to delete.
    note = alice.upload(b"released\n", "r.txt")
    token, _ = uploads.claim(alice.id, [note["id"]])
    uploads.release(token)
    assert alice.http.delete(f"{API}/uploads/{note['id']}").status_code == 204
    assert note["id"] not in store.keys()


def test_a_stale_hold_yields_and_the_late_send_stores_nothing(app, store, people):
    """A claim older than CLAIM_TIMEOUT is void (a send that died): the upload
    may be deleted, and should that send still come, its message is refused
    rather than stored without the file it promised."""
    alice, bob = people
    state = app.extensions["chat"]
    uploads = state.uploads
    cid = alice.send("hello", to=bob.id)["message"]["conversation"]
    doc = alice.upload(files.pdf(), "late.pdf")
    token, _ = uploads.claim(alice.id, [doc["id"]])
    t = uploads.table
    with state.engine.begin() as conn:
        at = conn.execute(sa.select(t.c.claimed_at).where(t.c.id == doc["id"])).scalar_one()
        conn.execute(t.update().where(t.c.id == doc["id"]).values(
            claimed_at=at - CLAIM_TIMEOUT - timedelta(seconds=1)))
    assert alice.http.delete(f"{API}/uploads/{doc['id']}").status_code == 204
    assert store.keys() == []
    before = message_count(app)
    with pytest.raises(ChatError) as refused:
        state.store.insert(
            {"conversation_id": cid, "sender_id": alice.id, "recipient_id": bob.id,
             "content": "too late", "client_id": "c-late", "reply_to_id": None},
            check_blocks=True, link=uploads.linker(token, [doc["id"]]))
    uploads.release(token)
    assert refused.value.code == "invalid"
    assert message_count(app) == before
    # The writer goes on: the next send is stored.
    assert alice.send("after", to=bob.id)["ok"]
