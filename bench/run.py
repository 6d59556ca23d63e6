"""Benchmark chatapp's production server, optionally side by side with another.

    python bench/run.py [--scenario ws50 ...] [--repeat 3] [--db-url URL]
                        [--server eventlet|gevent|gunicorn-gevent ...]
                        [--compare-url URL --compare-pid PID]

Starts each ``--server`` (default ``python wsgi.py`` on eventlet; rate limit
off, a fresh SQLite database in a temporary directory unless ``--db-url``),
registers users over HTTP, drives each scenario with real python-socketio
clients in several processes and prints one table of medians. Servers (and
``--compare-url``, another server of the same contract) take turns run by
run, and the ratios to the compared server are printed.
"""
import argparse
import contextlib
import json
import os
import secrets
import signal
import sys

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench import scenarios, stats, users  # noqa: E402
from bench.server import SERVERS, ChatServer, wait_ready  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", action="append", choices=list(scenarios.SCENARIOS),
                   help="repeat to pick several (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario and server")
    p.add_argument("--procs", type=int, default=2, help="load-generator processes")
    p.add_argument("--db-url", help="SQLAlchemy URL instead of a fresh SQLite file per "
                   "server; the servers then share it, with their users")
    p.add_argument("--server", action="append", metavar="KIND[@ROOT]",
                   help=f"chatapp's server ({', '.join(SERVERS)}), optionally from another "
                        "checkout (e.g. gevent@/tmp/before); repeat to compare several "
                        "(default: eventlet)")
    p.add_argument("--compare-url", help="another server implementing the same contract")
    p.add_argument("--compare-pid", type=int, help="its process id, for RSS and CPU")
    p.add_argument("--compare-name", default="compare")
    p.add_argument("--timeout", type=float, default=180, help="seconds per phase")
    p.add_argument("--json", help="also write every run's figures to this file")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # A plain ``kill`` still stops the server and the workers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = args.scenario or list(scenarios.SCENARIOS)
    need = max(scenarios.SCENARIOS[n]["users"] for n in names)
    kinds = args.server or ["eventlet"]
    for k in kinds:
        if k.split("@", 1)[0] not in SERVERS:
            raise SystemExit(f"--server {k}: choose one of {', '.join(SERVERS)}")
    # With --db-url every chatapp server shares the database and one secret
    # key: users registered (scrypt, the slow part) on the first serve them all.
    shared = {"FLASK_SECRET_KEY": secrets.token_hex(16)} if args.db_url else None
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(ChatServer(db_url=args.db_url, kind=k.split("@", 1)[0],
                                                  root=k.split("@", 1)[1] if "@" in k else None,
                                                  env=shared))
                   for k in kinds]
        targets = [(_name(k, kinds), s.url, s.pid) for k, s in zip(kinds, servers)]
        pools = {}
        if shared:
            pool = users.register(servers[0].url, need)
            pools = {name: pool for name, _, _ in targets}
        if args.compare_url:
            url = args.compare_url.rstrip("/")
            wait_ready(url)
            targets.append((args.compare_name, url, args.compare_pid))
        for name, url, _ in targets:
            if name not in pools:
                pools[name] = users.register(url, need)
        print(f"registered {need} users on {len(targets)} server(s)", file=sys.stderr)
        results = {}
        for sc_name in names:
            sc = scenarios.SCENARIOS[sc_name]
            for i in range(1 if sc.get("twice") else args.repeat):
                for name, url, pid in targets:  # alternate servers run by run
                    if sc.get("own") and not name.startswith("chatapp"):
                        continue  # a contract v2.0 scenario: the peer has no groups
                    r = scenarios.run(url, pid, pools[name], sc, args.procs, args.timeout)
                    r["error_count"] = sum(r.get("errors", {}).values())
                    r["load1"] = os.getloadavg()[0]  # the machine's, as the run ends
                    results.setdefault((sc_name, name), []).append(r)
                    print(f"{sc_name} #{i + 1} {name}: {_brief(r)}", file=sys.stderr)
    rows = [(sc, srv, stats.summarize(runs)) for (sc, srv), runs in results.items()]
    print(stats.table(rows))
    if args.compare_url:
        print()
        print(ratios(rows, args.compare_name))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1,
                      default=str)
    bad = any(s.get("lost") or s.get("duplicates") for sc, srv, s in rows
              if srv.startswith("chatapp"))
    return 1 if bad else 0


def _name(kind, kinds):
    if kinds == ["eventlet"]:
        return "chatapp"
    kind, _, root = kind.partition("@")
    return f"chatapp-{kind}" + (f"@{os.path.basename(root.rstrip('/'))}" if root else "")


def _brief(r):
    keys = ("msgs_per_s", "ack_p99", "victim_ack_p99", "lost", "duplicates",
            "error_count", "connected", "rss_first_kib", "rss_per_conn_kib", "load1")
    return " ".join(f"{k}={r[k]:.1f}" if isinstance(r.get(k), float) else f"{k}={r.get(k)}"
                    for k in keys if r.get(k) is not None)


def ratios(rows, other):
    """Each chatapp server / other for the headline figures of each scenario."""
    keys = ("msgs_per_s", "ack_p99", "e2e_p99", "victim_ack_p99", "rss_per_conn_kib")
    by = {(sc, srv): s for sc, srv, s in rows}
    ours_names = [srv for srv in dict.fromkeys(srv for _, srv, _ in rows) if srv != other]
    lines = [f"ratios to {other} (msg/s: higher is better; latency, memory: lower)"]
    for sc in dict.fromkeys(sc for sc, _, _ in rows):
        for name in ours_names:
            ours, theirs = by.get((sc, name), {}), by.get((sc, other), {})
            cells = [f"{k}={ours[k] / theirs[k]:.2f}" for k in keys
                     if ours.get(k) and theirs.get(k)]
            lines.append(f"  {sc:10} {name:24} " + "  ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
