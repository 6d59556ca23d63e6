"""chatapp's production server with a heap probe and a loop-lag probe, for
``bench/heap.py`` and ``bench/lag.py``.

    PYTHONTRACEMALLOC=25 CHATAPP_ASYNC_MODE=gevent python bench/heap_server.py --port P
    PYTHONTRACEMALLOC=25 gunicorn -k gevent ... bench.heap_server:app

Serves ``wsgi.app`` as ``wsgi.py`` does (that of the checkout in
``CHATAPP_BENCH_ROOT``, default this one), plus:

- ``GET /__heap?path=FILE``: a full collection, then (when tracemalloc traces)
  a snapshot dumped to FILE; answers the RSS, the traced total and how many
  greenlets are alive;
- ``GET /__lag``: how late a task that sleeps 5 ms at a time woke up since the
  last call (the event loop's stalls: one connection's work that does not
  yield holds up every other), then starts counting afresh.
Never for production: anyone who can reach it can write files.
"""
import gc
import json
import os
import sys

if __name__ == "__main__":
    if (os.environ.get("CHATAPP_ASYNC_MODE") or "eventlet") == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    else:
        from gevent import monkey
        monkey.patch_all()
sys.path.insert(0, os.environ.get("CHATAPP_BENCH_ROOT")
                or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import time  # noqa: E402
import tracemalloc  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import wsgi  # noqa: E402

app = wsgi.app
LAG_TICK = 0.005
lags = []  # seconds late, per tick since the last /__lag


def _lag_probe():
    socketio = app.extensions["socketio"]
    while True:
        t0 = time.perf_counter()
        socketio.sleep(LAG_TICK)
        lags.append(time.perf_counter() - t0 - LAG_TICK)


#: The longest stretch of CPU time each kind of green thread ran without
#: switching, since the last /__lag (greenlet's public settrace hook; CPU
#: time, so other processes on the machine do not count).
slices = {}
_last = [time.thread_time()]


def _kind(g):
    run = getattr(g, "_run", None) or getattr(g, "run", None)  # gevent's or greenlet's
    run = getattr(run, "__func__", run)
    return getattr(run, "__qualname__", None) or type(g).__name__


def _on_switch(event, args):
    now = time.thread_time()
    if event in ("switch", "throw"):
        kind = _kind(args[0])
        ran = now - _last[0]
        if ran > slices.get(kind, 0):
            slices[kind] = ran
    _last[0] = time.thread_time()


if os.environ.get("CHATAPP_BENCH_SLICES"):
    import greenlet
    greenlet.settrace(_on_switch)


def _lag_report():
    got = sorted(lags)
    lags.clear()
    top = sorted(slices.items(), key=lambda kv: -kv[1])[:6]
    slices.clear()
    if not got:
        return {"n": 0}
    at = lambda p: got[min(len(got) - 1, int(p / 100 * len(got)))] * 1000  # noqa: E731
    return {"n": len(got), "p50_ms": at(50), "p99_ms": at(99), "max_ms": got[-1] * 1000,
            "over_20ms": sum(1 for x in got if x > 0.02),
            "longest_cpu_ms": {k: round(v * 1000, 1) for k, v in top}}


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def _greenlets():
    try:
        import greenlet
    except ImportError:
        return None
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))


def heap_probe(wsgi_app):
    # A function, not an object with __call__: calling one of those nests a C
    # frame, which every parked connection's green thread would keep in its
    # saved stack, and the probe would add to what it measures.
    def probe(environ, start_response):
        if environ.get("PATH_INFO") == "/__lag":
            body = json.dumps(_lag_report()).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") != "/__heap":
            return wsgi_app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        gc.collect()
        out = {"rss_kib": _rss_kib(), "greenlets": _greenlets(),
               "traced": tracemalloc.is_tracing()}
        if tracemalloc.is_tracing():
            out["traced_kib"] = tracemalloc.get_traced_memory()[0] / 1024
            if query.get("path"):
                tracemalloc.take_snapshot().dump(query["path"][0])
        body = json.dumps(out).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return probe


app.wsgi_app = heap_probe(app.wsgi_app)
app.extensions["socketio"].start_background_task(_lag_probe)

if __name__ == "__main__":
    sys.exit(wsgi.main())
