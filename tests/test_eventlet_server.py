"""The production server's own connection handling (``chatapp.eventlet_server``),
at the protocol level: WebSocket frames and HTTP keep-alive, over real sockets.
"""
import base64
import http.client
import json
import os
import socket
import struct
import time

import pytest
import requests
import websocket

from conftest import LiveServer, read_until_closed

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = LiveServer(tmp_path_factory.mktemp("eventlet-server")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def session(server):
    return server.register("frames")


def cookie(session):
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def ws_url(server):
    return server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


def open_ws(server, session):
    """A raw WebSocket to Engine.IO, past its open packet."""
    ws = websocket.create_connection(ws_url(server), header=[f"Cookie: {cookie(session)}"],
                                     timeout=5)
    opened = ws.recv()
    assert opened.startswith("0{"), opened
    return ws


def join_chat(ws):
    ws.send("40/chat,")
    reply = ws.recv()
    assert reply.startswith("40/chat,{"), reply
    return json.loads(reply[len("40/chat,"):])


def close_code(ws):
    """The code of the next frame, which must be a close frame."""
    frame = ws.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE, frame
    return struct.unpack("!H", frame.data[:2])[0]


def test_ping_frames_are_answered(server, session):
    ws = open_ws(server, session)
    try:
        ws.ping(b"are you there")
        frame = ws.recv_frame()
        assert frame.opcode == websocket.ABNF.OPCODE_PONG
        assert frame.data == b"are you there"
        join_chat(ws)  # and the connection still works
    finally:
        ws.close()


def test_fragmented_message_is_one_packet(server, session):
    ws = open_ws(server, session)
    try:
        ws.send_frame(websocket.ABNF.create_frame("40/ch", websocket.ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame("at", websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(",", websocket.ABNF.OPCODE_CONT, fin=1))
        reply = ws.recv()
        assert reply.startswith("40/chat,{") and "sid" in reply
    finally:
        ws.close()


@pytest.mark.parametrize("payload, code", [
    ("4" + "x" * 1_100_000, 1009),  # beyond max_http_buffer_size
    ("not a packet", 1003),
], ids=["too-big", "not-engineio"])
def test_bad_message_closes_the_socket_and_the_server_goes_on(server, session, payload, code):
    ws = open_ws(server, session)
    try:
        ws.send(payload)
        assert close_code(ws) == code
    finally:
        ws.close()
    ws = open_ws(server, session)
    join_chat(ws)
    ws.close()


def test_close_frame_is_answered(server, session):
    ws = open_ws(server, session)
    join_chat(ws)
    ws.send_close(status=1000)
    assert close_code(ws) == 1000
    ws.shutdown()


def raw_handshake(server, session, key=None, extra=b""):
    """A plain TCP socket that asks for a WebSocket (``extra`` sent in the
    same write); returns it and what has been read, the response head first."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    key_line = f"Sec-WebSocket-Key: {key or 'dGhlIHNhbXBsZSBub25jZQ=='}\r\n" if key is not False else ""
    sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\n{key_line}Sec-WebSocket-Version: 13\r\n"
                  f"Cookie: {cookie(session)}\r\n\r\n").encode() + extra)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return sock, head


def test_handshake_without_key_is_a_bad_request(server, session):
    sock, head = raw_handshake(server, session, key=False)
    sock.close()
    assert head.startswith(b"HTTP/1.1 400"), head


def test_unmasked_client_frame_is_a_protocol_error(server, session):
    sock, head = raw_handshake(server, session, key=base64.b64encode(os.urandom(16)).decode())
    try:
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.sendall(b"\x81\x08" + b"40/chat,")  # FIN + text, no mask bit
        rest = head.split(b"\r\n\r\n", 1)[1] + read_until_closed(sock)
        close_at = rest.index(b"\x88")  # the close frame after the open packet
        code = struct.unpack("!H", rest[close_at + 2:close_at + 4])[0]
        assert code == 1002
    finally:
        sock.close()


def test_keepalive_connection_serves_requests_after_idle_gaps(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        seen = set()
        for _ in range(4):
            conn.request("GET", "/login")
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            seen.add(conn.sock.getsockname())
            time.sleep(0.3)  # the connection waits idle between requests
        assert len(seen) == 1  # one connection throughout
    finally:
        conn.close()


def test_pipelined_requests_are_all_answered(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        req = f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"
        last = req.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
        sock.sendall((req * 2 + last).encode())
        data = read_until_closed(sock)
        assert data.count(b"HTTP/1.1 200") == 3
    finally:
        sock.close()


def test_long_and_folded_request_heads_are_served(server, session):
    big = "x" * 6000  # a request head read in several pieces
    r = requests.get(server.url + "/chat/api/me", headers={"X-Padding": big},
                     cookies=session.cookies, timeout=5)
    assert r.status_code == 200 and r.json()["user"]["id"] == session.user["id"]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        # RFC 9112 lets a server reject a folded line (obsolete) with 400.
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: a\r\n b\r\n"
                     b"Connection: close\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400")
    finally:
        sock.close()


def masked_text_frame(text):
    """A client text frame (masked, with a zero key: the payload reads as is)."""
    data = text.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data


def test_a_client_that_stops_reading_is_dropped_and_others_go_on(server):
    from concurrent.futures import ThreadPoolExecutor

    from realservices import ChatClient

    slow = server.register("slowreader")
    sender = ChatClient(server.url, server.register("fastwriter"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server.port))
    try:
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                      f"Cookie: {cookie(slow)}\r\n\r\n").encode())
        sock.sendall(masked_text_frame("40/chat,"))
        time.sleep(0.5)  # joined; from now on it reads nothing
        text = "y" * 1990
        with ThreadPoolExecutor(8) as pool:  # about 5 MB of pushes for the slow reader
            acks = list(pool.map(lambda i: sender.send(slow.user, f"{i} {text}"), range(2400)))
        assert all(a["ok"] for a in acks)
        # The server gave up on it: what it holds ends, long before 5 MB.
        got, t0 = 0, time.monotonic()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"still open after {got} bytes")
            if not chunk:
                break
            got += len(chunk)
        assert got < 4_000_000, got
        assert time.monotonic() - t0 < 5
        # And the writer still chats.
        assert sender.send(server.register("other").user, "still here")["ok"] is True
    finally:
        sock.close()
        sender.sio.disconnect()


def test_an_idle_connection_waits_for_a_request_that_comes_in_pieces(server, session):
    """After an idle gap the next request arrives slowly: it is read whole."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        head = f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n"
        sock.sendall(head.encode())
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # idle: no request in progress
        body = json.dumps({"username": "nobody", "password": "wrong password"}).encode()
        sock.sendall(b"POST /auth/lo")
        time.sleep(0.2)
        sock.sendall((f"gin HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Content-Type: application/json\r\n").encode())
        time.sleep(0.2)
        sock.sendall(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        time.sleep(0.2)
        sock.sendall(body[:10])
        time.sleep(0.2)
        sock.sendall(body[10:])
        reply = read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert b'"code"' in reply
    finally:
        sock.close()


def test_frames_sent_with_the_handshake_are_kept(server, session):
    """A client may send its first frames right behind the upgrade request."""
    sock, reply = raw_handshake(server, session,
                                extra=masked_text_frame("40/chat,"))
    try:
        assert reply.startswith(b"HTTP/1.1 101"), reply[:200]
        data = reply.split(b"\r\n\r\n", 1)[1]
        deadline = time.time() + 5
        while b"40/chat,{" not in data and time.time() < deadline:
            data += sock.recv(65536)
        assert b"0{" in data and b"40/chat,{" in data, data[:300]
    finally:
        sock.close()
