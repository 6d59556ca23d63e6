"""Fill a chat database for the history micro-benchmark.

    python bench/gen_data.py --db sqlite:////path/to/chat.sqlite \
        [--users 10000] [--messages 1000000] [--partners 10]

Each user talks to a few others; message counts per conversation are skewed
(a few long conversations, many short ones), timestamps move forward.
Every user's password is ``password123`` (hashed once, reused).
"""
import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chatapp import create_app  # noqa: E402

PASSWORD = "password123"


def make_app(db_url):
    return create_app({"SQLALCHEMY_DATABASE_URI": db_url, "SECRET_KEY": "bench",
                       "SOCKETIO_ASYNC_MODE": "threading", "CHAT_RATE_LIMIT": 0})


def pairs_for(users, partners, rng):
    pairs = set()
    for u in range(1, users + 1):
        for _ in range(partners // 2):
            v = rng.randint(1, users)
            if v != u:
                pairs.add((min(u, v), max(u, v)))
    return sorted(pairs)


def fill(app, users, messages, partners, seed=1, chunk=20000):
    rng = random.Random(seed)
    state = app.extensions["chat"]
    t, engine = state.table, state.engine
    users_t = sa.Table("users", sa.MetaData(), autoload_with=engine)
    pw = generate_password_hash(PASSWORD)
    start = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(users_t.insert(), [
            {"id": i, "username": f"user{i}", "username_key": f"user{i}",
             "password_hash": pw, "created_at": start} for i in range(1, users + 1)])
    pairs = pairs_for(users, partners, rng)
    weights = [rng.paretovariate(1.2) for _ in pairs]
    rows, sent = [], 0
    for k, (a, b) in enumerate(rng.choices(pairs, weights, k=messages)):
        if rng.random() < 0.5:
            a, b = b, a
        at = start + timedelta(milliseconds=k * 50)
        rows.append({"sender_id": a, "recipient_id": b, "content": f"message {k}",
                     "sent_at": at, "client_id": None,
                     "read_at": at if rng.random() < 0.9 else None})
        if len(rows) == chunk:
            sent += _flush(engine, t, rows)
    sent += _flush(engine, t, rows)
    return len(pairs), sent


def _flush(engine, t, rows):
    if not rows:
        return 0
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)
    n = len(rows)
    rows.clear()
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True, help="SQLAlchemy URL of an empty database")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--partners", type=int, default=10, help="conversations per user, about")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    app = make_app(args.db)
    npairs, n = fill(app, args.users, args.messages, args.partners)
    with app.extensions["chat"].engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    print(f"{args.users} users, {npairs} conversations, {n} messages "
          f"in {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()
