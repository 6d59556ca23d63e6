"""Group commit: many sends per transaction, each acknowledged after its commit.

Idempotent client_id (also within one batch), per-conversation order, and a
flood from one client that does not hold up another pair.
"""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import socketio
import sqlalchemy as sa

from chatapp.store import _Pending
from servers import KINDS, Server


def _count(state):
    with state.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(state.table)).scalar()


def _pending(state, sender, content, client_id):
    from chatapp.models import utcnow
    state.store.ensure_counter()
    values = {"conversation_id": 1, "sender_id": sender, "recipient_id": 99,
              "content": content, "sent_at": utcnow(), "client_id": client_id,
              "read_at": None, "edited_at": None, "deleted": False, "reply_to_id": None,
              "rev": None}
    return _Pending(values, threading.Event())


def _insert(state, sender, to, content, client_id):
    return state.store.insert({"conversation_id": 1, "sender_id": sender, "recipient_id": to,
                               "content": content, "client_id": client_id})


def test_one_batch_stores_a_repeated_client_id_once(app):
    state = app.extensions["chat"]
    batch = [_pending(state, 1, "a", "x"), _pending(state, 1, "b", "x"),
             _pending(state, 2, "c", "x"), _pending(state, 1, "d", None)]
    state.store._commit_batch(batch)
    assert all(i.done.is_set() and i.error is None for i in batch)
    (r0, c0), (r1, c1), (r2, c2), (r3, c3) = (i.result for i in batch)
    assert (c0, c1, c2, c3) == (True, False, True, True)
    assert r1.id == r0.id and r1.content == "a"  # the resend answers with the stored row
    assert r0.id < r2.id < r3.id  # stored in arrival order
    assert r0.rev < r2.rev < r3.rev  # one rev each, in order
    assert _count(state) == 3


def test_a_batch_with_an_already_stored_client_id(app):
    state = app.extensions["chat"]
    first, _ = _insert(state, 1, 99, "first", "k")
    batch = [_pending(state, 1, "new", "n"), _pending(state, 1, "again", "k")]
    state.store._commit_batch(batch)
    assert batch[0].result[1] is True
    assert batch[1].result == (batch[1].result[0], False)
    assert batch[1].result[0].id == first.id and batch[1].result[0].content == "first"
    assert _count(state) == 2


class _Stop(BaseException):
    """Stands in for the writer being killed (GreenletExit at shutdown)."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stopped_writer_fails_its_senders_and_the_next_send_works(app, monkeypatch):
    state = app.extensions["chat"]
    real = state.store._commit_batch
    calls = []

    def stop_once(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise _Stop()
        return real(batch)

    monkeypatch.setattr(state.store, "_commit_batch", stop_once)
    with pytest.raises(RuntimeError, match="writer stopped"):
        _insert(state, 1, 2, "lost in the stop", "s1")
    row, created = _insert(state, 1, 2, "after", "s2")  # a new writer takes over
    assert created and row.content == "after"
    assert _count(state) == 1 and len(calls) == 2


def test_concurrent_sends_share_commits_and_stay_idempotent(app):
    state = app.extensions["chat"]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(
            lambda i: _insert(state, 1, 2, f"m{i}", "same" if i % 2 else f"c{i}"),
            range(60)))
    odd = [results[i] for i in range(1, 60, 2)]
    assert len({row.id for row, _ in odd}) == 1
    assert sum(created for _, created in odd) == 1
    assert all(created for row, created in results[0::2])
    assert _count(state) == 31


def test_group_commit_off_still_stores_once(app):
    state = app.extensions["chat"]
    state.store.group = False
    a, ca = _insert(state, 1, 2, "x", "one")
    b, cb = _insert(state, 1, 2, "y", "one")
    assert (ca, cb) == (True, False) and a.id == b.id
    assert _count(state) == 1


def _client(server, session):
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    sio = socketio.Client(reconnection=False)
    got = []
    sio.on("message", got.append, namespace="/chat")
    sio.connect(server.url, headers={"Cookie": cookie}, namespaces=["/chat"],
                transports=["websocket"], wait_timeout=10)
    return sio, got


def _wait(pred, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.02)
    return pred()


@pytest.mark.server
def test_live_burst_keeps_order_idempotency_and_acks_after_commit(live_server):
    alice, bob = live_server.register("alice"), live_server.register("bob")
    a, _ = _client(live_server, alice)
    b, got = _client(live_server, bob)
    acks = {}
    try:
        # 40 sends in flight at once, 10 of them resends of an earlier client_id.
        for i in range(40):
            cid = f"c{i % 30}"
            a.emit("chat-to", {"to": bob.user["id"], "content": f"m{i}", "client_id": cid},
                   namespace="/chat", callback=lambda r, i=i: acks.__setitem__(i, r))
        assert _wait(lambda: len(acks) == 40)
        assert all(r["ok"] for r in acks.values()), acks
        assert [acks[i]["message"]["content"] for i in range(30)] == [f"m{i}" for i in range(30)]
        for i in range(30, 40):  # a resend gets the stored message back
            assert acks[i]["message"]["id"] == acks[i - 30]["message"]["id"]
            assert acks[i]["message"]["content"] == f"m{i - 30}"
        ids = [acks[i]["message"]["id"] for i in range(30)]
        assert ids == sorted(ids)  # one connection's sends are stored in order
        # Every acknowledged message is already committed: the history has them all.
        r = bob.get(f"{live_server.url}/chat/api/conversations/{alice.user['id']}/messages",
                    params={"limit": 100})
        assert [m["id"] for m in r.json()["messages"]] == ids
        assert _wait(lambda: len(got) == 30)
        time.sleep(0.3)
        assert [m["id"] for m in got] == ids  # delivered once each, in order
    finally:
        a.disconnect()
        b.disconnect()


@pytest.mark.server
@pytest.mark.parametrize("kind", KINDS)
def test_live_flood_does_not_hold_up_another_pair(live_server_factory, kind):
    live_server = live_server_factory(Server, kind=kind)
    users = [live_server.register(n) for n in ("flood", "sink", "carol", "dave")]
    clients = [_client(live_server, s)[0] for s in users]
    flood, _, carol, _ = clients
    flood_acks, lat = [], []
    try:
        for i in range(2000):
            flood.emit("chat-to", {"to": users[1].user["id"], "content": f"f{i}"},
                       namespace="/chat", callback=flood_acks.append)
        time.sleep(0.05)  # the burst is on its way
        while len(flood_acks) < 2000 and len(lat) < 2000:
            t0 = time.monotonic()
            ack = carol.call("chat-to", {"to": users[3].user["id"], "content": "hi"},
                             namespace="/chat", timeout=10)
            assert ack["ok"], ack
            lat.append(time.monotonic() - t0)
        assert _wait(lambda: len(flood_acks) == 2000, 90)
        assert all(a["ok"] for a in flood_acks)
        assert len(lat) >= 5
        # Served one event at a time per connection, carol waits for one commit,
        # not for the burst (about 0.6 s here when every frame got its own task).
        # One slow fsync on a busy disk may hold up a single send: the bound is
        # on the 90th percentile, and the issue's own 1 s on every send.
        lat.sort()
        assert lat[int(len(lat) * 0.9)] < 0.3, lat[-5:]
        assert lat[-1] < 1.0, lat[-5:]
    finally:
        for c in clients:
            c.disconnect()
