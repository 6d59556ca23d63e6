"""Uploads on every real server (eventlet, gevent, gunicorn's gevent worker,
``flask run``) over real HTTP."""
import io
import itertools
import re
import select
import socket
import time

import pytest
import requests
from PIL import Image

import uploadfiles as files
from servers import KINDS, Server

pytestmark = pytest.mark.server
_names = itertools.count()


@pytest.fixture(scope="module", params=KINDS)
def server(request, tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("uploads-live"), request.param).start()
    yield s
    s.stop()


def user(server):
    return server.register(f"up{next(_names)}")


def test_upload_fetch_range_and_privacy(server):
    alice, bob = user(server), user(server)
    r = alice.post(server.url + "/chat/api/uploads", timeout=10,
                   files={"file": ("trip.jpg", files.jpeg_with_gps((2000, 1500)), "image/png")})
    assert r.status_code == 201, r.text
    att = r.json()["attachment"]
    assert att["type"] == "image/jpeg" and att["url"].startswith("/chat/files/")
    full = alice.get(server.url + att["url"], timeout=10)
    assert full.status_code == 200 and len(full.content) == att["size"]
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    part = alice.get(server.url + att["url"], headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206 and part.content == full.content[1000:2000]
    thumb = alice.get(server.url + att["thumb_url"], timeout=10)
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
    for who in (bob, requests):
        r = who.get(server.url + att["url"], timeout=10)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def _cookie(session):
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def _response(sock):
    """One HTTP response (head and its Content-Length body) from ``sock``,
    without waiting for the connection to close: eventlet's server keeps it
    open and reads (discards) the rest of a refused body, as HTTP/1.1 lets it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_declared_2_gib_upload_is_refused_before_its_body(server):
    """The upload route is exempt from the site's 1 MiB MAX_CONTENT_LENGTH
    (RequestLimits) but its view refuses a declared length over
    CHAT_UPLOAD_MAX_BYTES from the header, in the contract's shape."""
    alice = user(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /chat/api/uploads HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 2147483648\r\nCookie: " + _cookie(alice).encode()
                  + b"\r\n\r\n")
        started = time.monotonic()
        reply = _response(s)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"too_large"' in reply
    assert time.monotonic() - started < 5
    # ...and the server goes on serving.
    assert alice.get(server.url + "/chat/api/me", timeout=5).status_code == 200


def test_an_endless_chunked_upload_is_cut_off(server):
    """2 GiB announced by nothing, on eventlet's server: refused while the
    client is still sending. eventlet does not mark its
    de-chunked input as terminated (``wsgi.input_terminated``), so Werkzeug
    reads no body at all and the view answers 400; on servers that do
    (gevent, gunicorn) the view stops at the upload limit with 413. eventlet
    then reads and drops what the client goes on sending, on that connection
    only."""
    alice = user(server)
    sent = 0
    chunk = b"a" * 65536
    reply = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /chat/api/uploads HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n"
                  b"Transfer-Encoding: chunked\r\nCookie: " + _cookie(alice).encode()
                  + b"\r\n\r\n")
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        try:
            while sent < 2 << 30:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([s], [], [], 0)[0]:
                    break
            reply = _response(s)
        except OSError:
            pass
    assert sent < 64 << 20, f"the server read {sent} bytes"
    assert reply.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")), reply[:200]
    assert b'"invalid"' in reply or b'"too_large"' in reply
    assert alice.get(server.url + "/chat/api/me", timeout=5).status_code == 200


def test_a_body_over_the_limit_gets_the_contract_error(server):
    alice = user(server)
    r = alice.post(server.url + "/chat/api/uploads", timeout=20,
                   files={"file": ("big.txt", b"a" * (10 * 1024 * 1024 + 1), "text/plain")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = alice.post(server.url + "/chat/api/uploads", timeout=20,
                   files={"file": ("max.txt", b"a" * (10 * 1024 * 1024), "text/plain")})
    assert r.status_code == 201 and r.json()["attachment"]["size"] == 10 * 1024 * 1024


@pytest.mark.parametrize("transports", [("websocket",), ("polling",)])
def test_attachment_and_search_end_to_end(server, transports):
    """Upload over HTTP, send over Socket.IO, the other side fetches and finds it."""
    from realservices import ChatClient

    alice, bob, eve = user(server), user(server), user(server)
    att = alice.post(server.url + "/chat/api/uploads", timeout=10,
                     files={"file": ("plan.pdf", files.pdf())}).json()["attachment"]
    a, b = ChatClient(server.url, alice, transports), ChatClient(server.url, bob, transports)
    try:
        ack = a.call("chat-to", {"to": bob.user["id"], "content": "明天去咖啡馆",
                                 "attachments": [att["id"]]})
        assert ack["ok"] and ack["message"]["attachments"] == [att], ack
        got = b.expect("message", lambda m: m["id"] == ack["message"]["id"])
        assert got["attachments"] == [att]
    finally:
        a.close()
        b.close()
    r = bob.get(server.url + att["url"], timeout=10)
    assert r.status_code == 200 and r.content == files.pdf()
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert eve.get(server.url + att["url"], timeout=10).status_code == 404
    found = bob.get(server.url + "/chat/api/search", params={"q": "咖啡"}, timeout=10).json()
    assert [x["message"]["id"] for x in found["results"]] == [ack["message"]["id"]]
    assert found["results"][0]["message"]["attachments"] == [att]
    assert eve.get(server.url + "/chat/api/search", params={"q": "咖啡"},
                   timeout=10).json()["results"] == []
