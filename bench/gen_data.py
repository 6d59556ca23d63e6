"""Fill a chat database for the history and search micro-benchmarks.

    python bench/gen_data.py --db sqlite:////path/to/chat.sqlite \
        [--users 10000] [--messages 1000000] [--partners 10] [--wide 20]

Each user talks to a few others; message counts per conversation are skewed
(a few long conversations, many short ones), timestamps move forward. Users
1 to ``--wide`` are in 100 conversations each (search: "a user in 100
conversations"). About a third of the messages are Chinese, the rest
English, both made of common words. Every user's password is ``password123``
(hashed once, reused).
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


EN = ("the", "a", "to", "and", "you", "it", "is", "we", "meeting", "tomorrow", "coffee",
      "lunch", "project", "report", "call", "later", "thanks", "ok", "see", "photo", "plan",
      "trip", "train", "ticket", "hotel", "price", "send", "file", "review", "today",
      "weekend", "dinner", "maybe", "great", "sorry", "late", "office", "home", "music",
      "movie", "game", "birthday", "party", "question", "answer", "quick", "budget", "draft",
      "design", "deadline", "monday", "friday", "morning", "evening", "weather", "rain")
ZH = ("明天", "今天", "咖啡", "咖啡馆", "开会", "项目", "报告", "晚饭", "周末", "电影", "谢谢",
      "好的", "没问题", "时间", "地方", "我们", "你们", "出发", "火车", "酒店", "价格", "文件",
      "照片", "生日", "聚会", "问题", "回答", "下午", "早上", "晚上", "天气", "下雨", "办公室",
      "回家", "音乐", "游戏", "预算", "设计", "截止", "星期一", "星期五", "一起", "可能", "去")


def content_for(rng):
    """A short message of common words: a third Chinese (no spaces), the rest English."""
    if rng.random() < 1 / 3:
        return "".join(rng.choices(ZH, k=rng.randint(3, 9))) + rng.choice(("", "。", "！", "？"))
    words = rng.choices(EN, k=rng.randint(3, 12))
    return " ".join(words).capitalize() + rng.choice(("", ".", "!", "?"))


def wide_pairs(users, wide, rng, per_user=100):
    """Users 1..wide each get ``per_user`` partners."""
    pairs = set()
    for u in range(1, wide + 1):
        for v in rng.sample(range(1, users + 1), per_user + 1):
            if v != u and len([p for p in pairs if u in p]) < per_user:
                pairs.add((min(u, v), max(u, v)))
    return pairs


def fill(app, users, messages, partners, seed=1, chunk=20000, wide=0):
    rng = random.Random(seed)
    state = app.extensions["chat"]
    t, engine = state.table, state.engine
    ct, mt = state.tables["conversation"], state.tables["member"]
    users_t = sa.Table("users", sa.MetaData(), autoload_with=engine)
    pw = generate_password_hash(PASSWORD)
    start = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(users_t.insert(), [
            {"id": i, "username": f"user{i}", "username_key": f"user{i}",
             "password_hash": pw, "created_at": start} for i in range(1, users + 1)])
    pairs = sorted(set(pairs_for(users, partners, rng)) | wide_pairs(users, wide, rng))
    conv_of = {pair: n + 1 for n, pair in enumerate(pairs)}
    with engine.begin() as conn:  # each pair's direct conversation, both as members
        conn.execute(ct.insert(), [
            {"id": cid, "kind": "direct", "user_low": a, "user_high": b, "created_at": start,
             "sort_floor": 0} for (a, b), cid in conv_of.items()])
        conn.execute(mt.insert(), [
            {"conversation_id": cid, "user_id": u, "joined_at": start}
            for (a, b), cid in conv_of.items() for u in (a, b)])
    weights = [rng.paretovariate(1.2) for _ in pairs]
    rows, sent = [], 0
    for k, (a, b) in enumerate(rng.choices(pairs, weights, k=messages)):
        cid = conv_of[(a, b)]
        if rng.random() < 0.5:
            a, b = b, a
        at = start + timedelta(milliseconds=k * 50)
        rows.append({"sender_id": a, "recipient_id": b, "content": content_for(rng),
                     "sent_at": at, "client_id": None, "conversation_id": cid, "rev": k + 1,
                     "read_at": at if rng.random() < 0.9 else None})
        if len(rows) == chunk:
            sent += _flush(engine, t, rows)
    sent += _flush(engine, t, rows)
    with engine.begin() as conn:
        counter = state.tables["counter"]
        conn.execute(counter.delete())
        conn.execute(counter.insert().values(name="rev", value=messages))
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
    p.add_argument("--wide", type=int, default=20, help="users in 100 conversations each")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    app = make_app(args.db)
    npairs, n = fill(app, args.users, args.messages, args.partners, wide=args.wide)
    # Statistics for the planner, and on PostgreSQL the visibility map that
    # lets index-only scans skip the table (autovacuum's work, done now).
    engine = app.extensions["chat"].engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    print(f"{args.users} users, {npairs} conversations, {n} messages "
          f"in {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()
