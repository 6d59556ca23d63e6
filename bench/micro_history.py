"""Server time of a history page (limit=50) and of the conversation list.

    python bench/micro_history.py --db sqlite:////path/to/chat.sqlite [--samples 300]

Uses a database filled by ``gen_data.py``. Each request goes through the whole
Flask view (login session, service, JSON) with the test client, in-process,
so the time is the server's alone; prints p50/p95/p99/max in milliseconds.
"""
import argparse
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
    """(user, partner) pairs: random users, plus the longest conversations if asked."""
    t = app.extensions["chat"].table
    with app.extensions["chat"].engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
        heavy = conn.execute(
            sa.select(t.c.sender_id, t.c.recipient_id, sa.func.count().label("n"))
            .group_by(t.c.sender_id, t.c.recipient_id)
            .order_by(sa.desc("n")).limit(int(samples * heavy_share))).all()
        users = conn.execute(sa.select(sa.func.max(t.c.sender_id))).scalar()
        picks = [(r.sender_id, r.recipient_id) for r in heavy]
        while len(picks) < samples:
            me = rng.randint(1, users)
            other = conn.execute(sa.select(t.c.recipient_id).where(t.c.sender_id == me)
                                 .limit(1)).scalar()
            if other is not None:
                picks.append((me, other))
    return total, picks


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
    args = p.parse_args(argv)
    rng = random.Random(2)
    app = make_app(args.db)
    total, picks = sample_users(app, args.samples, rng, args.heavy)
    times = {"history": [], "older page": [], "conversations": []}
    for me, other in picks:
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
            ms, _ = timed(client, "/chat/api/conversations")
            times["conversations"].append(ms)
    print(f"{total:,} messages, {len(picks)} users sampled, {args.repeat} requests each")
    print(f"{'request':15} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  (ms)")
    for name, xs in times.items():
        print(f"{name:15} {len(xs):5d} " + " ".join(
            f"{pct(xs, q):7.2f}" for q in (50, 95, 99)) + f" {max(xs):7.2f}")


if __name__ == "__main__":
    main()
