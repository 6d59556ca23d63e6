"""Server time of a history page (limit=50), the conversation list and sync.

    python bench/micro_history.py --db sqlite:////path/to/chat.sqlite [--samples 300]

Uses a database filled by ``gen_data.py``. Each request goes through the whole
Flask view (login session, service, JSON) with the test client, in-process,
so the time is the server's alone; prints p50/p95/p99/max in milliseconds.
"""
import argparse
import gc
import os
import random
import sys
import time

import sqlalchemy as sa

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.gen_data import PASSWORD, make_app  # noqa: E402
from bench.stats import pct  # noqa: E402


def sample_users(app, samples, rng, heavy_share=0.0):
    """(user, partner, group or None): random users, plus the longest direct
    conversations if asked."""
    state = app.extensions["chat"]
    t, ct, mt = state.table, state.tables["conversation"], state.tables["member"]
    with state.engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        heavy = conn.execute(
            sa.select(t.c.sender_id, t.c.recipient_id, sa.func.count().label("n"))
            .where(t.c.recipient_id.is_not(None))
            .group_by(t.c.sender_id, t.c.recipient_id)
            .order_by(sa.desc("n")).limit(int(samples * heavy_share))).all()
        users = conn.execute(sa.select(sa.func.max(t.c.sender_id))).scalar()

        def group_of(me):
            return conn.execute(
                sa.select(mt.c.conversation_id).join(ct, ct.c.id == mt.c.conversation_id)
                .where(mt.c.user_id == me, ct.c.kind == "group").limit(1)).scalar()

        picks = [(r.sender_id, r.recipient_id, group_of(r.sender_id)) for r in heavy]
        while len(picks) < samples:
            me = rng.randint(1, users)
            other = conn.execute(sa.select(t.c.recipient_id).where(t.c.sender_id == me)
                                 .where(t.c.recipient_id.is_not(None)).limit(1)).scalar()
            if other is not None:
                picks.append((me, other, group_of(me)))
        top = state.store.current_rev(conn)
    return total, top, picks


def timed(client, url):
    t0 = time.perf_counter()
    r = client.get(url)
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.get_data(as_text=True)[:200]}")
    return ms, r.get_json()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3, help="requests per sampled user")
    p.add_argument("--heavy", type=float, default=0.0,
                   help="share of samples taken from the longest conversations")
    p.add_argument("--no-freeze", action="store_true",
                   help="leave start-up objects to the collector (wsgi.py freezes them)")
    p.add_argument("--sync-behind", type=int, default=5000,
                   help="how many server-wide changes a catching-up client missed")
    args = p.parse_args(argv)
    rng = random.Random(2)
    app = make_app(args.db)
    total, top, picks = sample_users(app, args.samples, rng, args.heavy)
    if not args.no_freeze:
        # As the production server (wsgi.py) does after start-up: the
        # collector's full passes no longer walk what lives for good.
        gc.collect()
        gc.freeze()
    times = {"history": [], "older page": [], "group history": [], "conversations": [],
             "conv. page 50": [], "sync": [], "sync from 0": []}
    for me, other, group in picks:
        client = app.test_client()
        r = client.post("/auth/login", json={"username": f"user{me}", "password": PASSWORD})
        assert r.status_code == 200, r.get_json()
        base = f"/chat/api/conversations/{other}/messages?limit=50"
        for _ in range(args.repeat):
            ms, page = timed(client, base)
            times["history"].append(ms)
            if page["messages"]:
                ms, _ = timed(client, f"{base}&before={page['messages'][0]['id']}")
                times["older page"].append(ms)
            if group is not None:
                ms, _ = timed(client, f"/chat/api/groups/{group}/messages?limit=50")
                times["group history"].append(ms)
            ms, _ = timed(client, "/chat/api/conversations")
            times["conversations"].append(ms)
            ms, _ = timed(client, "/chat/api/conversations?limit=50")
            times["conv. page 50"].append(ms)
            ms, _ = timed(client, f"/chat/api/sync?since={max(0, top - args.sync_behind)}"
                                  "&limit=500")
            times["sync"].append(ms)
            ms, _ = timed(client, "/chat/api/sync?since=0&limit=500")
            times["sync from 0"].append(ms)
    print(f"{total:,} messages, {len(picks)} users sampled, {args.repeat} requests each; "
          f"sync {args.sync_behind} revs behind")
    print(f"{'request':15} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  (ms)")
    for name, xs in times.items():
        if not xs:
            continue
        print(f"{name:15} {len(xs):5d} " + " ".join(
            f"{pct(xs, q):7.2f}" for q in (50, 95, 99)) + f" {max(xs):7.2f}")


if __name__ == "__main__":
    main()
