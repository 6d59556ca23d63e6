"""Server time of ``GET /chat/api/search`` for users in 100 conversations.

    python bench/micro_search.py --db sqlite:////path/to/chat.sqlite [--samples 200]

Uses a database filled by ``gen_data.py`` (its ``--wide`` users are in 100
conversations each). Queries of 2, 3 and 8 characters: most are cut from
messages of the user's own conversations (they find something), the rest
from anyone's messages (often nothing for this user: the index finds matches
that the membership check then drops). Each request goes through the whole
Flask view in-process, so the time is the server's alone; prints
p50/p95/p99/max in milliseconds per query length.
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

LENGTHS = (2, 3, 8)


def wide_users(app):
    mt = app.extensions["chat"].tables["member"]
    with app.extensions["chat"].engine.connect() as conn:
        return list(conn.execute(
            sa.select(mt.c.user_id).group_by(mt.c.user_id)
            .having(sa.func.count() >= 100).order_by(mt.c.user_id)).scalars())


def queries_for(app, user, rng, n, own_share):
    """``{length: [q, ...]}``: substrings of the user's messages (``own_share``) or anyone's."""
    st = app.extensions["chat"]
    t, mt = st.table, st.tables["member"]
    mine = sa.select(mt.c.conversation_id).where(mt.c.user_id == user)
    with st.engine.connect() as conn:
        own = list(conn.execute(sa.select(t.c.content).where(t.c.conversation_id.in_(mine))
                                .order_by(sa.func.random()).limit(200)).scalars())
        top = conn.execute(sa.select(sa.func.max(t.c.id))).scalar()
        anyone = [conn.execute(sa.select(t.c.content).where(t.c.id == rng.randint(1, top)))
                  .scalar() for _ in range(50)]
    out = {}
    for length in LENGTHS:
        qs = []
        while len(qs) < n:
            text = rng.choice(own if rng.random() < own_share else anyone)
            if text and len(text) >= length:
                at = rng.randint(0, len(text) - length)
                q = text[at:at + length]
                if q.strip() == q and len(q) == length:
                    qs.append(q)
        out[length] = qs
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--samples", type=int, default=200, help="queries per length")
    p.add_argument("--users", type=int, default=10, help="users in 100 conversations to use")
    p.add_argument("--own", type=float, default=0.7, help="share of queries from own messages")
    p.add_argument("--no-freeze", action="store_true",
                   help="leave start-up objects to the collector (wsgi.py freezes them)")
    p.add_argument("--scan-max", type=int, default=None,
                   help="CHAT_SEARCH_SCAN_MAX for this run (0: always the trigram index)")
    args = p.parse_args(argv)
    rng = random.Random(3)
    app = make_app(args.db)
    if args.scan_max is not None:
        app.extensions["chat"].searcher.scan_max = args.scan_max
    users = wide_users(app)[:args.users]
    if not args.no_freeze:
        # As the production server (wsgi.py) does after start-up: the
        # collector's full passes no longer walk what lives for good.
        gc.collect()
        gc.freeze()
    if not users:
        raise SystemExit("no user is in 100 conversations: fill with gen_data.py --wide N")
    per_user = max(1, args.samples // len(users))
    times = {n: [] for n in LENGTHS}
    found = {n: 0 for n in LENGTHS}
    with app.app_context():
        dialect = app.extensions["chat"].engine.dialect.name
    for user in users:
        client = app.test_client()
        r = client.post("/auth/login", json={"username": f"user{user}", "password": PASSWORD})
        assert r.status_code == 200, r.get_json()
        client.get("/chat/api/search", query_string={"q": "warm up"})
        for length, qs in queries_for(app, user, rng, per_user, args.own).items():
            for q in qs:
                t0 = time.perf_counter()
                r = client.get("/chat/api/search", query_string={"q": q})
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{q!r}: {r.status_code} {r.get_data(as_text=True)}")
                times[length].append(ms)
                found[length] += bool(r.get_json()["results"])
    print(f"{dialect}: {len(users)} users in 100+ conversations, {per_user} queries per "
          f"length each ({args.own:.0%} cut from their own messages), scan_max "
          f"{app.extensions['chat'].searcher.scan_max}")
    print(f"{'q length':9} {'n':>5} {'found':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  (ms)")
    for n, xs in times.items():
        print(f"{n:<9} {len(xs):5d} {found[n]:6d} " + " ".join(
            f"{pct(xs, q):7.2f}" for q in (50, 95, 99)) + f" {max(xs):7.2f}")


if __name__ == "__main__":
    main()
