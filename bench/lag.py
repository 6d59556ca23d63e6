"""The fairness scenario with the server's event-loop lag beside it.

    python bench/lag.py [--server KIND[@ROOT] ...] [--repeat 3]

For each server (``bench/heap_server.py``, i.e. ``wsgi.py`` plus probes, from
this checkout or ``ROOT``), one client writes 2,000 ``chat-to`` frames at once
while another pair sends one message at a time; prints the victim's ack p99
and how late a 5 ms tick in the server woke up meanwhile (p99, max, ticks more
than 20 ms late): a long stall means some work ran without yielding and every
connection waited for it. Also the longest CPU time each kind of green thread
ran without switching (CPU time: unlike the lag, not stretched by other
processes on a shared machine). Servers take turns run by run.
"""
import argparse
import contextlib
import os
import sys

import requests

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench import scenarios, users  # noqa: E402
from bench.heap import HeapServer  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", action="append", metavar="KIND[@ROOT]")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    specs = args.server or ["gevent"]
    with contextlib.ExitStack() as stack:
        servers = []
        for spec in specs:
            kind, _, root = spec.partition("@")
            env = {"CHATAPP_BENCH_ROOT": root} if root else {}
            env["CHATAPP_BENCH_SLICES"] = "1"
            servers.append((spec, stack.enter_context(HeapServer(kind=kind, env=env))))
        pools = {spec: users.register(s.url, 4) for spec, s in servers}
        rows = []
        for i in range(args.repeat):
            for spec, s in servers:
                requests.get(s.url + "/__lag", timeout=30)  # count from here
                r = scenarios.run(s.url, s.pid, pools[spec], scenarios.SCENARIOS["fairness"])
                lag = requests.get(s.url + "/__lag", timeout=30).json()
                row = (spec, i + 1, r["victim_ack_p99"], r.get("msgs_per_s"), lag.get("p99_ms"),
                       lag.get("max_ms"), lag.get("over_20ms"), os.getloadavg()[0])
                rows.append(row)
                print("%s #%d: victim p99 %.1f ms, flood %.0f msg/s, lag p99 %.1f max %.1f ms, "
                      "%d ticks >20 ms late, load %.1f" % row, file=sys.stderr, flush=True)
                print("   longest CPU stretch without a switch (ms):", lag.get("longest_cpu_ms"),
                      file=sys.stderr, flush=True)
    print("server, run, victim ack p99 ms, flood msg/s, lag p99 ms, lag max ms, ticks >20 ms, load")
    for row in rows:
        print(", ".join(str(round(x, 1)) if isinstance(x, float) else str(x) for x in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
