"""A plain WSGI application served by ``chatapp.eventlet_server``, for
``test_http_server.py``: HTTP framing and errors that chat's own routes do not
reach.

    python tests/http_app.py PORT MAX_REQUESTS MAX_HEAD MAX_BODY
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from chatapp import eventlet_server  # noqa: E402

in_flight = [0, 0]  # now, most seen


def slow(environ, start_response):
    in_flight[0] += 1
    in_flight[1] = max(in_flight)
    try:
        eventlet.sleep(float(environ["QUERY_STRING"] or "0.3"))
    finally:
        in_flight[0] -= 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(in_flight[1]).encode()]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/echo"):
        info = {k: v for k, v in environ.items() if isinstance(v, str)}
        info["body"] = environ["wsgi.input"].read().decode("latin-1")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(info).encode()]  # no Content-Length: the server adds it
    if path == "/stream":  # a generator and no length: chunked
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part%d;" % i for i in range(3))
    if path == "/write":  # PEP 3333's write callable, then the iterable
        write = start_response("200 OK", [("Content-Length", "5")])
        write(b"hel")
        return [b"lo"]
    if path == "/no-content":
        start_response("204 No Content", [])
        return []
    if path == "/close":
        start_response("200 OK", [("Content-Length", "2"), ("Connection", "close")])
        return [b"ok"]
    if path == "/fail":
        raise RuntimeError("failed before the response")
    if path == "/fail-late":
        def body():
            yield b"first;"
            raise RuntimeError("failed during the response")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()
    if path == "/bad-header":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"x"]
    if path == "/slow":
        return slow(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


if __name__ == "__main__":
    port, max_requests, max_head, max_body = map(int, sys.argv[1:5])
    eventlet_server.MAX_HEAD, eventlet_server.MAX_BODY = max_head, max_body
    listener = eventlet.listen(("127.0.0.1", port))
    eventlet_server.serve(listener, app, max_requests)
