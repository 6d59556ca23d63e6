"""Each production server's limits, probed over raw sockets as an internet
client would: a head that never ends, an idle keep-alive connection, bodies
refused from their headers, Engine.IO's oversized polling POST, a burst of
1,000 connections. Head and idle timeouts are set to 2 s here; the defaults
(60 s) are the same settings.
"""
import re
import socket
import subprocess
import time

import pytest
import requests

from helpers import read_until_closed
from servers import PRODUCTION, Server

pytestmark = pytest.mark.server
TIMEOUT = 2.0
SLACK = 3.0
BIG = 16 * 1024 * 1024


@pytest.fixture(scope="module", params=PRODUCTION)
def server(request, tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("limits"), kind=request.param,
               head_timeout=int(TIMEOUT)).start()
    yield s
    s.stop()


def connect(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def read_head(sock):
    """The status code and head of one response, and what followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), rest


def read_response(sock):
    status, head, body = read_head(sock)
    length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return status, head, body


def closed_after(sock, limit):
    """Seconds until the server closes ``sock`` (reading and dropping data)."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        read_until_closed(sock)
    except socket.timeout:
        return None
    return time.monotonic() - started


def test_a_head_that_never_ends_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        took = closed_after(sock, TIMEOUT + SLACK)
        assert took is not None, "the server still waits for the head"
    assert requests.get(server.url + "/login", timeout=5).status_code == 200


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        status, head, _ = read_response(sock)
        assert status == 200 and "close" not in head.lower()
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")  # kept alive
        assert read_response(sock)[0] == 200
        took = closed_after(sock, TIMEOUT + SLACK)
        assert took is not None, "the idle connection stays open"


@pytest.mark.parametrize("content_type, length, status", [
    ("text/plain", 60 * 1000, 415),  # the view refuses the type from the header
    # inside the app, over CHAT_MAX_BODY_BYTES (64 KiB) but under MAX_CONTENT_LENGTH:
    # chat's own bound, 413 too_large in the contract's JSON
    ("application/json", 1000 * 1000, 413),
    ("application/json", BIG, 413),  # RequestLimits: over MAX_CONTENT_LENGTH
])
def test_a_body_the_app_refuses_is_answered_before_it_is_sent(server, content_type, length,
                                                              status):
    with connect(server) as sock:
        sock.settimeout(10)
        sock.sendall(f"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}"
                     f"\r\nContent-Length: {length}\r\n\r\n".encode())
        assert read_head(sock)[0] == status  # not one byte of the body sent
    assert requests.get(server.url + "/login", timeout=5).status_code == 200


def test_a_polling_post_over_the_limit_is_answered_and_released(server):
    r = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = re.search(r'"sid":"([^"]+)"', r.text).group(1)
    limit = int(re.search(r'"maxPayload":(\d+)', r.text).group(1))
    socks = []
    for _ in range(30):
        sock = connect(server)
        sock.settimeout(10)
        sock.sendall(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                     f"Host: x\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                     f"Content-Length: {limit + 1}\r\n\r\n".encode() + b"4" * 1000)
        socks.append(sock)
    for sock in socks:
        status, head, _ = read_head(sock)
        assert status == 413, head
    for sock in socks:  # released: the server closes the connection, too
        assert closed_after(sock, TIMEOUT + SLACK) is not None
        sock.close()
    assert requests.get(server.url + "/login", timeout=5).status_code == 200


def test_listen_backlog_is_at_least_1024(server):
    out = subprocess.run(["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert int(out[2]) >= 1024, out  # Send-Q of a listening socket: its backlog


def test_a_burst_of_1000_connections_is_served(server):
    started = time.monotonic()
    socks = []
    try:
        for _ in range(1000):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            socks.append(sock)
        for sock in socks:
            sock.setblocking(True)
            sock.settimeout(30)
            sock.sendall(b"GET /chat/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        connected = time.monotonic() - started
        statuses = [read_response(sock)[0] for sock in socks]
        took = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert statuses == [200] * 1000
    # No connect waited for a SYN retransmit (1 s) behind a full backlog.
    assert connected < 1.0, connected
    assert took < 30, took


def test_a_websocket_frame_declaring_2_63_bytes_is_refused_up_front(server, request):
    if "eventlet" not in server.kind:  # eventlet refuses it from the header
        # python-engineio gives simple-websocket no max_message_size: under
        # gevent a message grows until a read times out (docs/upstream). Strict,
        # so that a fixed release shows up as a failure to remove this.
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="simple-websocket under Engine.IO has no message size limit"))
    with connect(server) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                     b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        status, head, _ = read_head(sock)
        assert status == 101, head
        # A text frame that says 2**63 - 1 bytes follow, then a few of them.
        sock.sendall(b"\x81\xff" + (2 ** 63 - 1).to_bytes(8, "big") + b"\x00" * 4 + b"4" * 100)
        took = closed_after(sock, TIMEOUT / 2)  # before any timeout could close it
        assert took is not None, "the server waits for the 8 EiB"
    assert requests.get(server.url + "/login", timeout=5).status_code == 200


class FakeSocket:
    """Hands out ``data`` in reads of at most ``size`` bytes; records writes."""

    def __init__(self, data):
        self.data, self.sent = data, b""

    def recv(self, size):
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def sendall(self, data):
        self.sent += data


def test_guarded_socket_yields_before_a_read_when_the_last_one_filled_the_buffer():
    from chatapp.serving import GuardedSocket

    pauses = []
    guard = GuardedSocket(FakeSocket(b"x" * 260), pauses.append)
    guard.recv(100)  # 100 of 260 bytes: more is waiting
    assert pauses == []
    guard.recv(100)
    assert pauses == [GuardedSocket.TURN]
    guard.recv(100)  # the last 60: the buffer was not filled
    guard.recv(100)
    assert pauses == [GuardedSocket.TURN] * 2
    assert guard.send(b"frame") == 5 and guard.sock.sent == b"frame"  # whole, with sendall
