"""History pages centred on a message (``around=``), on SQLite, PostgreSQL and
MariaDB: the page's contents, ``has_more``/``has_newer``, tombstones, the
refusals, and a non-member told nothing."""

import pytest
import sqlalchemy as sa

import dbapps
from dbapps import API, DATABASES, chat_app


@pytest.fixture(params=list(DATABASES))
def app(request, tmp_path):
    with chat_app(request.param, tmp_path) as app:
        yield app


class User(dbapps.User):
    def send(self, content, **payload):
        """``chat-to``; the stored message's id."""
        ack = super().send(content, **payload)
        assert ack["ok"], ack
        return ack["message"]["id"]

    def direct(self, other, **params):
        return self.http.get(f"{API}/conversations/{other.id}/messages", query_string=params)

    def group(self, cid, **params):
        return self.http.get(f"{API}/groups/{cid}/messages", query_string=params)


@pytest.fixture
def people(app):
    return [User(app, n) for n in ("alice", "bob", "carol", "dave")]


def ids(page):
    return [m["id"] for m in page["messages"]]


def error(resp, code, status):
    assert resp.status_code == status, (resp.status_code, resp.json)
    assert resp.json["error"]["code"] == code, resp.json
    assert resp.json["error"]["message"]


@pytest.fixture
def chat(people):
    """alice and bob's 40 messages (ids in order), alternating senders."""
    alice, bob, _, _ = people
    sent = [(alice if i % 2 else bob).send(f"m{i}", to=(bob if i % 2 else alice).id)
            for i in range(40)]
    return alice, bob, sent


def test_the_page_is_centred_on_the_message(chat):
    alice, bob, sent = chat
    page = alice.direct(bob, around=sent[20], limit=10).json
    # Half older, half newer, the message itself included; oldest first.
    assert ids(page) == sent[16:26]
    assert page["has_more"] is True and page["has_newer"] is True
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(16, 26)]
    assert set(page) == {"me", "other", "messages", "has_more", "has_newer"}
    assert page["other"]["id"] == bob.id and page["me"]["id"] == alice.id
    # The other side sees the same page of the same conversation.
    assert ids(bob.direct(alice, around=sent[20], limit=10).json) == sent[16:26]
    # An odd limit: as many each way.
    assert ids(alice.direct(bob, around=sent[20], limit=5).json) == sent[18:23]
    # limit=1: the message alone, with more on both sides.
    one = alice.direct(bob, around=sent[20], limit=1).json
    assert ids(one) == [sent[20]] and one["has_more"] and one["has_newer"]
    # The default page size (CHAT_HISTORY_PAGE_SIZE, 20) when no limit is given.
    assert ids(alice.direct(bob, around=sent[20]).json) == sent[11:31]


def test_near_either_end_the_other_side_fills_the_page(chat):
    alice, bob, sent = chat
    first = alice.direct(bob, around=sent[1], limit=10).json
    assert ids(first) == sent[:10]
    assert first["has_more"] is False and first["has_newer"] is True
    last = alice.direct(bob, around=sent[-2], limit=10).json
    assert ids(last) == sent[-10:]
    assert last["has_more"] is True and last["has_newer"] is False
    # Exactly the oldest or the newest message.
    assert ids(alice.direct(bob, around=sent[0], limit=3).json) == sent[:3]
    assert ids(alice.direct(bob, around=sent[-1], limit=3).json) == sent[-3:]
    # The whole conversation fits: nothing more either way.
    whole = alice.direct(bob, around=sent[5], limit=100).json
    assert ids(whole) == sent and not whole["has_more"] and not whole["has_newer"]
    exact = alice.direct(bob, around=sent[5], limit=40).json
    assert ids(exact) == sent and not exact["has_more"] and not exact["has_newer"]


def test_before_and_after_continue_it_without_gaps(chat):
    alice, bob, sent = chat
    page = alice.direct(bob, around=sent[25], limit=7).json
    got = ids(page)
    assert got == sent[22:29] and page["has_newer"] is True
    while page["has_more"]:
        page = alice.direct(bob, before=got[0], limit=7).json
        got = ids(page) + got
    page = {"has_more": True}
    while page["has_more"]:
        page = alice.direct(bob, after=got[-1], limit=7).json
        got += ids(page)
    assert got == sent


def test_deleted_messages_are_tombstones(chat):
    alice, bob, sent = chat
    assert alice.http.delete(f"{API}/messages/{sent[19]}").status_code == 204
    assert bob.http.delete(f"{API}/messages/{sent[22]}").status_code == 204
    page = alice.direct(bob, around=sent[21], limit=5).json
    assert ids(page) == sent[19:24]
    gone = [m for m in page["messages"] if m["deleted"]]
    assert [m["id"] for m in gone] == [sent[19], sent[22]]
    # Centred on a deleted message: its tombstone is the middle of the page.
    page = bob.direct(alice, around=sent[22], limit=3).json
    assert ids(page) == sent[21:24] and page["messages"][1]["deleted"] is True
    assert all(m["content"] == "" and m["attachments"] == [] for m in gone)


def test_without_around_the_v1_answers_are_unchanged(chat):
    alice, bob, sent = chat
    newest = alice.direct(bob, limit=5).json
    assert set(newest) == {"me", "other", "messages", "has_more"}
    assert ids(newest) == sent[-5:]
    assert set(alice.direct(bob, before=sent[10], limit=5).json) == set(newest)
    assert set(alice.direct(bob, after=sent[10], limit=5).json) == set(newest)
    # ...while the same request with around= says has_newer.
    assert "has_newer" in alice.direct(bob, around=sent[10], limit=5).json


@pytest.mark.parametrize("params", [
    {"around": "x"}, {"around": "1.5"}, {"around": -1}, {"around": 2 ** 63},
    {"around": "{m}", "before": "{m}"}, {"around": "{m}", "after": 1},
    {"around": "{m}", "before": "{m}", "after": 1}, {"around": "{m}", "limit": 0},
    {"around": "{m}", "limit": 101}])
def test_bad_parameters_are_invalid(chat, params, people):
    alice, bob, sent = chat
    error(alice.direct(bob, **{k: str(v).format(m=sent[10]) for k, v in params.items()}),
          "invalid", 400)
    cid = alice.http.post(f"{API}/groups", json={"title": "T", "members": [bob.id]}).json[
        "conversation"]["id"]
    gid = alice.send("in the group", conversation=cid)
    error(alice.group(cid, **{k: str(v).format(m=gid) for k, v in params.items()}),
          "invalid", 400)
    # The same around alone is answered, as a page centred on it.
    assert ids(alice.group(cid, around=gid).json) == [gid]
    assert alice.direct(bob, around=sent[10]).json["has_newer"] is True


def test_a_message_of_another_conversation_is_not_found(chat, people):
    alice, bob, sent = chat
    _, _, carol, dave = people
    elsewhere = carol.send("carol to alice", to=alice.id)
    # In alice's conversation with carol it is found; with bob it is not there.
    assert ids(alice.direct(carol, around=elsewhere).json) == [elsewhere]
    for resp in (alice.direct(bob, around=elsewhere), bob.direct(carol, around=elsewhere),
                 alice.direct(bob, around=sent[-1] + 1000),
                 # dave has no conversation with anyone: asking says nothing more
                 dave.direct(alice, around=sent[3])):
        error(resp, "not_found", 404)
    # An unknown user is still unknown_user, as without around.
    error(alice.http.get(f"{API}/conversations/999999/messages", query_string={"around": sent[3]}),
          "unknown_user", 404)


def test_groups_centre_the_page_and_non_members_learn_nothing(app, people):
    alice, bob, carol, dave = people
    cid = alice.http.post(f"{API}/groups", json={"title": "Trip", "members": [bob.id, carol.id]}
                          ).json["conversation"]["id"]
    other = alice.http.post(f"{API}/groups", json={"title": "Other", "members": [dave.id]}
                            ).json["conversation"]["id"]
    sent = [(alice, bob, carol)[i % 3].send(f"g{i}", conversation=cid) for i in range(30)]
    stray = alice.send("in the other group", conversation=other)
    direct = alice.send("direct", to=bob.id)
    assert bob.http.delete(f"{API}/messages/{sent[13]}").status_code == 204

    r = carol.group(cid, around=sent[12], limit=6)
    assert r.status_code == 200, r.json
    page = r.json
    assert ids(page) == sent[10:16]
    assert page["has_more"] is True and page["has_newer"] is True
    assert [m["deleted"] for m in page["messages"]] == [False, False, False, True, False, False]
    assert page["conversation"]["id"] == cid and page["conversation"]["title"] == "Trip"
    # The conversation's last message is its newest, not the page's last.
    assert page["conversation"]["last_message"]["id"] == sent[-1]
    end = carol.group(cid, around=sent[-1], limit=6).json
    assert ids(end) == sent[-6:] and end["has_more"] and end["has_newer"] is False
    assert end["conversation"]["last_message"]["id"] == sent[-1]
    assert set(carol.group(cid, limit=6).json) == {"conversation", "messages", "has_more"}

    # Not in this group (another group's message, a direct one, no such id): not_found.
    for mid in (stray, direct, sent[-1] + 1000):
        error(carol.group(cid, around=mid), "not_found", 404)
    # A non-member gets what an unknown group gets, whether the message exists or not.
    unknown = dave.group(cid + 1000, around=sent[12])
    error(unknown, "not_found", 404)
    for mid in (sent[12], stray, sent[-1] + 1000):
        r = dave.group(cid, around=mid)
        error(r, "not_found", 404)
        assert r.json == unknown.json
    # A member removed stops seeing it at once.
    assert alice.http.delete(f"{API}/groups/{cid}/members/{carol.id}").status_code == 204
    r = carol.group(cid, around=sent[12])
    error(r, "not_found", 404)
    assert r.json == unknown.json
    # And the direct endpoint never reaches into a group.
    error(alice.direct(bob, around=sent[12]), "not_found", 404)


def test_two_bounded_range_reads(app, chat):
    """No scan of the conversation: two reads of the message table, each a
    range of the conversation index with a LIMIT."""
    alice, bob, sent = chat
    engine = app.extensions["chat"].engine
    table = app.extensions["chat"].table.name
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if f"FROM {table}" in statement.replace("`", "").replace('"', ""):
            seen.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert ids(alice.direct(bob, around=sent[20], limit=6).json) == sent[18:24]
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 2, seen
    for statement in seen:
        assert "conversation_id" in statement and "LIMIT" in statement.upper(), statement
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            for statement in seen:
                plan = conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement.replace("?", "1")).all()
                detail = " ".join(str(row[-1]) for row in plan)
                assert "USING INDEX ix_chat_message_conversation " in detail, detail
                assert "SCAN" not in detail and "TEMP B-TREE" not in detail, detail
