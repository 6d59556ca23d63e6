"""Where a held connection's memory goes: the heap diffed over N connections.

    python bench/heap.py [--server eventlet|gevent|gunicorn-gevent] [--conns 1000]
                         [--transport websocket|polling] [--no-trace] [--top 30]

Starts ``bench/heap_server.py`` (``wsgi.py`` plus a heap probe) with
tracemalloc on (25 frames), connects N clients and holds them, then N more
beside them, and diffs the snapshots taken after each batch (a full
collection first): the growth for the second N, per connection, grouped by
the line that allocated it and by file. What tracemalloc does not see (green
threads' stacks outside the Python allocator, CPython's frame stack chunks,
libev/libuv) is the RSS growth less the traced growth; ``--no-trace`` gives
the RSS without tracemalloc's own overhead.
"""
import argparse
import os
import sys
import tempfile
import time
import tracemalloc

import requests

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench import scenarios, users  # noqa: E402
from bench.server import SERVERS, ChatServer  # noqa: E402


class HeapServer(ChatServer):
    ready_timeout = 180  # tracemalloc slows the imports several times over

    def command(self):
        if self.kind == "gunicorn-gevent":
            return super().command()[:-1] + ["bench.heap_server:app"]
        return [sys.executable, "bench/heap_server.py", "--port", str(self.port)]


def probe(url, path=None):
    r = requests.get(url + "/__heap", params={"path": path} if path else None, timeout=120)
    r.raise_for_status()
    return r.json()


def hold(url, pool, n, transport, tag):
    """Connect ``n`` clients (pairs of ``pool``), return the workers holding them."""
    pairs = [(pool[i], pool[i + 1]) for i in range(0, n - 1, 2)]
    specs = [dict(url=url, transport=transport, messages=0, window=1, mode="idle",
                  tag=f"{tag}{i}", pairs=part) for i, part in enumerate(scenarios._split(pairs, 2))]
    workers = scenarios._start(specs)
    got = [scenarios._recv(c, 300) for _, c in workers]
    return workers, sum(g["connected"] for g in got), sum(g["failed"] for g in got)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", choices=SERVERS, default="eventlet")
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--transport", default="websocket", choices=("websocket", "polling"))
    p.add_argument("--no-trace", action="store_true")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = p.parse_args(argv)
    env = dict(e.split("=", 1) for e in args.env)
    if not args.no_trace:
        env["PYTHONTRACEMALLOC"] = "25"
    tmp = tempfile.mkdtemp(prefix="chat-heap-")
    with HeapServer(kind=args.server, env=env) as server:
        pool = users.register(server.url, args.conns)
        requests.get(server.url + "/login", timeout=10)
        time.sleep(1)
        base = probe(server.url)
        w1, n1, f1 = hold(server.url, pool, args.conns, args.transport, "a")
        time.sleep(2)
        first = probe(server.url, os.path.join(tmp, "1.snap"))
        w2, n2, f2 = hold(server.url, pool, args.conns, args.transport, "b")
        time.sleep(5)
        second = probe(server.url, os.path.join(tmp, "2.snap"))
        for _, c in w1 + w2:
            c.send("stop")
        for _, c in w1 + w2:
            scenarios._recv(c, 120)
        scenarios._stop(w1 + w2)
    print(f"{args.server} {args.transport} {' '.join(args.env)}: connected {n1} + {n2} "
          f"(failed {f1} + {f2}); greenlets {base['greenlets']} -> {first['greenlets']} -> "
          f"{second['greenlets']}")
    print(f"RSS KiB/conn: first {(first['rss_kib'] - base['rss_kib']) / max(n1, 1):.1f}, "
          f"second {(second['rss_kib'] - first['rss_kib']) / max(n2, 1):.1f}")
    if args.no_trace:
        return 0
    traced = (second["traced_kib"] - first["traced_kib"]) / max(n2, 1)
    print(f"traced KiB/conn (second): {traced:.1f}; untraced (RSS - traced): "
          f"{(second['rss_kib'] - first['rss_kib']) / max(n2, 1) - traced:.1f}")
    s1 = tracemalloc.Snapshot.load(os.path.join(tmp, "1.snap"))
    s2 = tracemalloc.Snapshot.load(os.path.join(tmp, "2.snap"))
    for key in ("filename", "lineno"):
        print(f"\nby {key}, bytes per connection (second {n2}):")
        for st in s2.compare_to(s1, key)[:args.top]:
            frame = st.traceback[0]
            print(f"  {st.size_diff / max(n2, 1):8.0f} B {st.count_diff / max(n2, 1):6.2f} blocks"
                  f"  {frame.filename.split('site-packages/')[-1]}:{frame.lineno}")
    print("\ntop tracebacks:")
    for st in s2.compare_to(s1, "traceback")[:8]:
        print(f"  {st.size_diff / max(n2, 1):8.0f} B")
        for line in st.traceback.format()[-12:]:
            print("     ", line.strip().split("site-packages/")[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
