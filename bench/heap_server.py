"""chatapp's production server with a heap probe, for ``bench/heap.py``.

    PYTHONTRACEMALLOC=25 CHATAPP_ASYNC_MODE=gevent python bench/heap_server.py --port P
    PYTHONTRACEMALLOC=25 gunicorn -k gevent ... bench.heap_server:app

Serves ``wsgi.app`` as ``wsgi.py`` does, plus ``GET /__heap?path=FILE``: a
full collection, then (when tracemalloc traces) a snapshot dumped to FILE;
answers the RSS, the traced total and how many greenlets are alive.
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
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tracemalloc  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import wsgi  # noqa: E402

app = wsgi.app


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

if __name__ == "__main__":
    sys.exit(wsgi.main())
