"""``chatapp.eventlet_server``'s HTTP/1.1, serving a plain WSGI application
(``http_app.py``) in a subprocess, over raw sockets: the request as the
application sees it, response framing, limits and errors.
"""
import http.client
import json
import socket
import sys
import threading

import pytest

from conftest import ROOT, free_port, read_until_closed, start_process, stop_process

pytestmark = pytest.mark.server

MAX_REQUESTS, MAX_HEAD, MAX_BODY = 2, 4096, 10000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("http") / "server.log", "wb")
    proc = start_process([sys.executable, str(ROOT / "tests" / "http_app.py"), str(port),
                          str(MAX_REQUESTS), str(MAX_HEAD), str(MAX_BODY)],
                         None, log, f"http://127.0.0.1:{port}")
    yield port
    stop_process(proc)
    log.close()


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def exchange(port, request_bytes):
    """Send ``request_bytes`` on a new connection; all the server sends back
    until it closes the connection."""
    sock = connect(port)
    try:
        sock.sendall(request_bytes)
        return read_until_closed(sock)
    finally:
        sock.close()


class Responses:
    """Responses read off one connection with the standard parser (one
    buffered reader throughout, so none is lost between reads)."""

    def __init__(self, sock):
        self.fp = sock.makefile("rb")

    def makefile(self, *args, **kwargs):
        return _Unclosed(self.fp)

    def read(self, n, method="GET"):
        out = []
        for _ in range(n):
            r = http.client.HTTPResponse(self, method=method)
            r.begin()
            out.append((r.status, r.getheaders(), r.read()))
        return out


class _Unclosed:
    """A response closes its file once read: not the connection's."""

    def __init__(self, fp):
        self.fp = fp

    def __getattr__(self, name):
        return getattr(self.fp, name)

    def close(self):
        pass


def responses(sock, n, method="GET"):
    reader = Responses(sock)
    try:
        return reader.read(n, method)
    finally:
        reader.fp.close()


def get(port, target, **kw):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(kw.pop("method", "GET"), target, **kw)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def test_the_application_sees_the_request_as_pep_3333_says(server):
    sock = connect(server)
    try:
        sock.sendall(b"POST /echo/a%20b?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\n"
                     b"X-Dup: one\r\nX-Dup: two\r\nX_Under: dropped\r\nX-Spaced:  v  \r\n"
                     b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
        [(status, headers, body)] = responses(sock, 1)
    finally:
        sock.close()
    env = json.loads(body)
    assert status == 200
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/echo/a b"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["RAW_URI"] == "/echo/a%20b?x=1&y=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_PORT"] == str(server) and env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_HOST"] == "example.test"
    assert env["HTTP_X_DUP"] == "one,two"
    assert env["HTTP_X_SPACED"] == "v"
    assert "HTTP_X_UNDER" not in env  # would pose as X-Under
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert env["body"] == "hello"
    assert dict(headers)["Content-Length"] == str(len(body))


def test_a_chunked_request_body_arrives_whole(server):
    sock = connect(server)
    try:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        [(status, _, body)] = responses(sock, 1)
    finally:
        sock.close()
    env = json.loads(body)
    assert status == 200 and env["body"] == "hello world" and env["CONTENT_LENGTH"] == "11"


def test_expect_100_continue_is_answered_before_the_body(server):
    sock = connect(server)
    try:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"body")
        [(status, _, body)] = responses(sock, 1)
    finally:
        sock.close()
    assert status == 200 and json.loads(body)["body"] == "body"


def test_responses_are_framed_for_each_kind_of_body(server):
    sock = connect(server)
    try:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /write HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /no-content HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
        (s1, h1, b1), (s2, h2, b2), (s3, h3, b3), (s4, _, b4) = responses(sock, 4)
    finally:
        sock.close()
    assert (s1, dict(h1)["Transfer-Encoding"], b1) == (200, "chunked", b"part0;part1;part2;")
    assert (s2, b2) == (200, b"hello")
    assert (s3, b3) == (204, b"")
    assert "Transfer-Encoding" not in dict(h3) and "Content-Length" not in dict(h3)
    assert (s4, b4) == (404, b"not found")
    assert all("Date" in dict(h) for h in (h1, h2, h3))


def test_head_has_the_headers_and_no_body(server):
    sock = connect(server)
    try:
        sock.sendall(b"HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\nGET /write HTTP/1.1\r\nHost: a\r\n\r\n")
        reader = Responses(sock)
        [(s1, h1, b1)] = reader.read(1, method="HEAD")
        [(s2, _, b2)] = reader.read(1)
    finally:
        reader.fp.close()
        sock.close()
    assert s1 == 200 and b1 == b"" and int(dict(h1)["Content-Length"]) > 0
    assert (s2, b2) == (200, b"hello")  # the connection goes on after the bodiless response


def test_http_1_0_gets_a_body_that_ends_with_the_connection(server):
    data = exchange(server, b"GET /stream HTTP/1.0\r\n\r\n")
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head
    assert b"Connection: close" in head and body == b"part0;part1;part2;"


def test_http_1_0_keep_alive_is_honoured(server):
    sock = connect(server)
    try:
        sock.sendall(b"GET /write HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = Responses(sock)
        [(s1, h1, b1)] = reader.read(1)
        sock.sendall(b"GET /write HTTP/1.0\r\n\r\n")
        rest = reader.fp.read()
    finally:
        reader.fp.close()
        sock.close()
    assert (s1, b1, dict(h1)["Connection"]) == (200, b"hello", "keep-alive")
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"hello")


def test_the_application_can_close_the_connection(server):
    data = exchange(server, b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"GET /write HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.count(b"HTTP/1.1") == 1 and data.endswith(b"ok")


@pytest.mark.parametrize("target, expect", [
    ("/fail", b"HTTP/1.1 500"),
    ("/bad-header", b"HTTP/1.1 500"),  # a header cannot smuggle in another
])
def test_an_application_error_is_a_500_and_the_server_goes_on(server, target, expect):
    data = exchange(server, f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    assert data.startswith(expect) and b"Injected" not in data
    assert get(server, "/write")[::2] == (200, b"hello")


def test_an_error_after_the_head_cuts_the_response_off(server):
    data = exchange(server, b"GET /fail-late HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and b"first;" in data
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client sees it was cut
    assert get(server, "/write")[::2] == (200, b"hello")


@pytest.mark.parametrize("request_bytes, expect", [
    (b"NOT A REQUEST\r\n\r\n", b"HTTP/1.1 400"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n", b"HTTP/1.1 400"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
     b"HTTP/1.1 400"),  # two framings: a request smuggling vector
    (b"GET / HTTP/1.1\r\nX-Big: " + b"x" * (MAX_HEAD + 100) + b"\r\n\r\n", b"HTTP/1.1 431"),
    (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
     + b"x" * (MAX_BODY + 1), b"HTTP/1.1 413"),
    (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"%x\r\n%s\r\n" % (MAX_BODY + 1, b"x" * (MAX_BODY + 1)), b"HTTP/1.1 413"),
])
def test_bad_or_oversized_requests_get_a_clear_error_and_the_server_goes_on(
        server, request_bytes, expect):
    data = exchange(server, request_bytes)
    assert data.startswith(expect), data[:100]
    assert b"Connection: close" in data
    assert get(server, "/write")[::2] == (200, b"hello")


def test_many_pipelined_requests_are_answered_in_order(server):
    def batch(first, n):
        return b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: a\r\n\r\n" % i
                        for i in range(first, first + n))

    n = 20  # more than the server parses ahead of the one it serves
    sock = connect(server)
    reader = Responses(sock)
    try:
        sock.sendall(batch(0, n))
        got = [json.loads(body)["PATH_INFO"] for _, _, body in reader.read(1)]
        sock.sendall(batch(n, n))  # read once the queue has room again
        got += [json.loads(body)["PATH_INFO"] for _, _, body in reader.read(2 * n - 1)]
    finally:
        reader.fp.close()
        sock.close()
    assert got == [f"/echo/{i}" for i in range(2 * n)]


def test_a_half_closed_client_still_gets_its_response(server):
    sock = connect(server)
    try:
        sock.sendall(b"GET /slow?0.2 HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        data = read_until_closed(sock)
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 200")


def test_a_client_gone_mid_request_leaves_the_server_serving(server):
    sock = connect(server)
    sock.sendall(b"GET /slow?0.2 HTTP/1.1\r\nHost: a\r\n\r\n")
    sock.close()
    assert get(server, "/write")[::2] == (200, b"hello")
    assert get(server, "/slow?0.3")[0] == 200  # after the first one has ended


def test_requests_beyond_the_cap_wait_their_turn(server):
    results = []

    def slow():
        results.append(get(server, "/slow?0.3"))

    threads = [threading.Thread(target=slow) for _ in range(MAX_REQUESTS + 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r[0] for r in results] == [200] * (MAX_REQUESTS + 2)
    # Each body is the most requests the application had in progress at once.
    assert max(int(r[2]) for r in results) == MAX_REQUESTS
