"""Fill a chat database for the history and search micro-benchmarks.

    python bench/gen_data.py --db sqlite:////path/to/chat.sqlite \
        [--users 10000] [--messages 1000000] [--partners 10] [--groups 2000] [--wide 20]

Each user talks to a few others; message counts per conversation are skewed
(a few long conversations, many short ones), timestamps move forward. Groups
(3 to 30 members, about 10 on average) carry ``--group-share`` of the
messages. Every message gets its ``rev`` in order, as the server would; the
``rev`` counter ends at the last one. Users 1 to ``--wide`` are in 100
direct conversations each (search: "a user in 100 conversations"). About a
third of the messages are Chinese, the rest English, both made of common
words. Every user's password is ``password123`` (hashed once, reused).
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
        partners = [v for v in rng.sample(range(1, users + 1), per_user + 1) if v != u]
        pairs.update((min(u, v), max(u, v)) for v in partners[:per_user])
    return pairs


def fill(app, users, messages, partners, groups=2000, group_share=0.2, seed=1,
         chunk=20000, wide=0):
    rng = random.Random(seed)
    state = app.extensions["chat"]
    t, engine = state.table, state.engine
    ct, mt, counter = (state.tables[k] for k in ("conversation", "member", "counter"))
    users_t = sa.Table("users", sa.MetaData(), autoload_with=engine)
    pw = generate_password_hash(PASSWORD)
    start = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(users_t.insert(), [
            {"id": i, "username": f"user{i}", "username_key": f"user{i}",
             "password_hash": pw, "created_at": start} for i in range(1, users + 1)])
    pairs = sorted(set(pairs_for(users, partners, rng)) | wide_pairs(users, wide, rng))
    conv_rows, member_rows, teams = [], [], []
    for n, (a, b) in enumerate(pairs, start=1):
        conv_rows.append({"id": n, "kind": "direct", "title": None, "owner_id": None,
                          "user_low": a, "user_high": b, "created_at": start, "sort_floor": 0})
        member_rows += [{"conversation_id": n, "user_id": u, "joined_at": start}
                        for u in (a, b)]
    for g in range(groups):
        cid = len(pairs) + g + 1
        size = min(30, max(3, int(rng.expovariate(1 / 10))))
        team = rng.sample(range(1, users + 1), size)
        teams.append((cid, team))
        conv_rows.append({"id": cid, "kind": "group", "title": f"group {g}", "owner_id": team[0],
                          "user_low": None, "user_high": None, "created_at": start,
                          "sort_floor": 0})
        member_rows += [{"conversation_id": cid, "user_id": u,
                         "joined_at": start + timedelta(milliseconds=k)}
                        for k, u in enumerate(team)]
    _flush(engine, ct, conv_rows)
    for i in range(0, len(member_rows), chunk):
        _flush(engine, mt, member_rows[i:i + chunk])

    weights = [rng.paretovariate(1.2) for _ in pairs]
    gweights = [rng.paretovariate(1.2) for _ in teams]
    n_group = int(messages * group_share) if teams else 0
    kinds = [True] * n_group + [False] * (messages - n_group)
    rng.shuffle(kinds)
    direct_picks = iter(rng.choices(range(len(pairs)), weights, k=messages - n_group))
    group_picks = iter(rng.choices(range(len(teams)), gweights, k=n_group)) if teams else None
    rows, sent = [], 0
    last_in = {}
    for k, is_group in enumerate(kinds, start=1):
        at = start + timedelta(milliseconds=k * 50)
        if is_group:
            cid, team = teams[next(group_picks)]
            row = {"conversation_id": cid, "sender_id": rng.choice(team), "recipient_id": None,
                   "read_at": None}
            last_in[cid] = k
        else:
            p = next(direct_picks)
            a, b = pairs[p]
            if rng.random() < 0.5:
                a, b = b, a
            row = {"conversation_id": p + 1, "sender_id": a, "recipient_id": b,
                   "read_at": at if rng.random() < 0.9 else None}
        row.update({"id": k, "content": content_for(rng), "sent_at": at, "client_id": None,
                    "edited_at": None, "deleted": False, "reply_to_id": None, "rev": k})
        rows.append(row)
        if len(rows) == chunk:
            sent += _flush(engine, t, rows)
    sent += _flush(engine, t, rows)
    with engine.begin() as conn:
        # Members have read their groups up to a little before the end.
        for cid, last in last_in.items():
            conn.execute(mt.update().where(mt.c.conversation_id == cid)
                         .values(last_read_id=max(0, last - rng.randint(0, 3000))))
        conn.execute(counter.delete())
        conn.execute(counter.insert().values(name="rev", value=messages))
    return len(pairs), len(teams), sent


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
    p.add_argument("--groups", type=int, default=2000)
    p.add_argument("--group-share", type=float, default=0.2,
                   help="share of the messages sent in groups")
    p.add_argument("--wide", type=int, default=20, help="users in 100 conversations each")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    app = make_app(args.db)
    npairs, ngroups, n = fill(app, args.users, args.messages, args.partners, args.groups,
                              args.group_share, wide=args.wide)
    # Statistics for the planner, and on PostgreSQL the visibility map that
    # lets index-only scans skip the table (autovacuum's work, done now).
    engine = app.extensions["chat"].engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM ANALYZE")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
    print(f"{args.users} users, {npairs} direct conversations, {ngroups} groups, "
          f"{n} messages in {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    main()
