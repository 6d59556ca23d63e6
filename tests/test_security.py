"""Security headers, bounded input, proxy trust, sockets closed on a host's logout."""
import io
import logging

import pytest
from flask_login import logout_user

from test_embed import host_app, login, socket

BIG = 8 * 1024 * 1024



def write_routes(app, other):
    """Every route that takes a request body, as (method, path), with ``other``
    (a user id) or 1 in its variable parts."""
    import re
    routes = []
    from chatapp.headers import OWN_BODY_LIMIT
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OWN_BODY_LIMIT:
            continue  # uploads have their own bound (tests/test_uploads.py)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            path = re.sub(r"<(?:[a-z]+:)?(other_id|user_id|member_id)>", str(other), rule.rule)
            routes.append((method.lower(), re.sub(r"<[^>]+>", "1", path)))
    return routes


def test_write_routes_cover_the_json_api(app):
    routes = write_routes(app, 2)
    for expected in [("post", "/auth/login"), ("post", "/auth/password"),
                     ("delete", "/auth/account"), ("post", "/chat/api/groups"),
                     ("patch", "/chat/api/messages/1"), ("put", "/chat/api/blocks/2"),
                     ("post", "/chat/api/conversations/2/read"), ("post", "/login")]:
        assert expected in routes


# -- headers -----------------------------------------------------------------

def test_standalone_pages_refuse_framing_and_carry_a_strict_csp(client, auth):
    for path in ("/login", "/register"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
    page = auth.register("alice").get("/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' ws://localhost wss://localhost;" in csp
    assert page.headers["X-Frame-Options"] == "DENY"


def test_json_and_static_are_nosniff(auth):
    alice = auth.register("alice")
    for path in ("/chat/api/me", "/chat/api/conversations", "/chat/static/chat.js",
                 f"/chat/avatar/{alice.user['id']}.svg", "/chat/api/nothing-here"):
        r = alice.get(path)
        r.close()
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Referrer-Policy"] == "same-origin", path
    r = alice.get("/chat/api/me")
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_hsts_over_https_and_secure_cookies_with_chat_https(app, tmp_path):
    from chatapp import create_app
    r = app.test_client().get("/login", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    secure = create_app({"TESTING": True, "SECRET_KEY": "t", "CHAT_HTTPS": True,
                         "SOCKETIO_ASYNC_MODE": "threading",
                         "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 's.sqlite'}"})
    assert secure.config["SESSION_COOKIE_SECURE"] and secure.config["REMEMBER_COOKIE_SECURE"]
    c = secure.test_client()
    r = c.get("/login")
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    r = c.post("/auth/register", json={"username": "alice", "password": "password123"},
               base_url="https://localhost")
    assert "Secure" in r.headers["Set-Cookie"]


def test_host_pages_keep_the_hosts_framing_policy(tmp_path):
    app = host_app(tmp_path / "h.sqlite")

    @app.get("/page")
    def page():
        return "<p>host</p>"

    r = login(app, "p-alice").get("/page")
    assert "X-Frame-Options" not in r.headers and "Content-Security-Policy" not in r.headers
    r = login(app, "p-alice").get("/chat/api/me")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# -- bounded input -------------------------------------------------------------

def test_large_json_bodies_are_413_too_large(auth, app):
    alice, bob = auth.register("alice"), auth.register("bob")
    body = b'{"username": "' + b"a" * BIG + b'"}'
    for method, path in write_routes(app, bob.user["id"]):
        r = getattr(alice, method)(path, data=body, content_type="application/json")
        assert r.status_code == 413, (method, path)
        assert r.json["error"]["code"] == "too_large"
    assert alice.get("/chat/api/me").status_code == 200  # nothing changed


def test_large_form_bodies_are_413_before_the_csrf_check(client):
    r = client.post("/login", data=b"username=" + b"a" * BIG,
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 413
    assert r.json["error"]["code"] == "too_large"


def test_body_without_a_length_stops_at_the_limit(auth, app):
    alice, bob = auth.register("alice"), auth.register("bob")
    limit = app.config["CHAT_MAX_BODY_BYTES"]
    body = b'{"up_to": 1, "pad": "' + b"a" * limit + b'"}'
    r = alice.post(f"/chat/api/conversations/{bob.user['id']}/read",
                   input_stream=io.BytesIO(body), content_type="application/json",
                   headers={"Transfer-Encoding": "chunked"},
                   environ_overrides={"wsgi.input_terminated": True})  # as servers say for chunked
    assert r.status_code == 413
    assert r.json["error"]["code"] == "too_large"


def test_socket_packets_are_bounded(app):
    eio = app.extensions["socketio"].server.eio
    assert eio.max_http_buffer_size == app.config["CHAT_SOCKET_MAX_BYTES"] == 64 * 1024
    # The longest legitimate packet: a chat-to of the longest message, every
    # character escaped by JSON, fits.
    import json
    packet = '42/chat,0["chat-to",' + json.dumps(
        {"to": 2**53, "content": "\x01" * app.config["CHAT_MAX_MESSAGE_LENGTH"],
         "client_id": "c" * 64}) + "]"
    assert len(packet.encode()) < eio.max_http_buffer_size


# -- proxy trust ---------------------------------------------------------------

FORGED = {"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Proto": "https"}


def test_forwarded_headers_ignored_without_proxy_hops(auth):
    alice = auth.register("alice")
    r = alice.post("/auth/logout", json={}, headers=FORGED)
    assert r.status_code == 403
    assert alice.get("/chat/api/me").status_code == 200
    sc = auth.app.extensions["socketio"].test_client(
        auth.app, namespace="/chat", flask_test_client=alice, headers=FORGED)
    assert not sc.is_connected("/chat")


def test_forwarded_headers_trusted_through_configured_hops(tmp_path):
    app = host_app(tmp_path / "h.sqlite", config={"CHAT_PROXY_HOPS": 1})
    client = login(app, "p-alice")
    r = client.post("/chat/api/conversations/p-carol/read", json={"up_to": 1},
                    headers={"Origin": "https://chat.example", "X-Forwarded-Proto": "https",
                             "X-Forwarded-Host": "chat.example",
                             "X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 204
    r = client.post("/chat/api/conversations/p-carol/read", json={"up_to": 1},
                    headers={"Origin": "https://chat.example"})
    assert r.status_code == 403


# -- hosts: logout closes sockets, cookie warnings ----------------------------

def test_host_logout_with_flask_login_closes_that_users_sockets(tmp_path):
    app = host_app(tmp_path / "h.sqlite")

    @app.post("/logout")
    def log_out():
        logout_user()  # the host's own lines: no call into chat
        return "", 204

    alice = login(app, "p-alice")
    tabs = [socket(app, alice), socket(app, login(app, "p-alice"))]
    carol = socket(app, login(app, "p-carol"))
    assert alice.post("/logout").status_code == 204
    assert not any(t.is_connected("/chat") for t in tabs)
    assert carol.is_connected("/chat")


def test_start_up_warns_about_cross_site_cookies(tmp_path, caplog, monkeypatch):
    # Alembic's fileConfig in an earlier test disables loggers that exist by then.
    monkeypatch.setattr(logging.getLogger("chatapp"), "disabled", False)
    with caplog.at_level(logging.WARNING, logger="chatapp"):
        host_app(tmp_path / "a.sqlite")
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "SESSION_COOKIE_SAMESITE" in warned and "REMEMBER_COOKIE_SAMESITE" in warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="chatapp"):
        host_app(tmp_path / "b.sqlite", config={"SESSION_COOKIE_SAMESITE": "Lax",
                                                 "REMEMBER_COOKIE_SAMESITE": "Strict"})
    assert not [r for r in caplog.records if "SAMESITE" in r.getMessage()]


# -- bounded input on a real server ----------------------------------------------

def _worker_pid(server):
    """gunicorn's worker: the process that reads requests."""
    pid = server.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = f.read().split()
    return int(children[0]) if children else pid


def _peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _send_large(url, method, path, size, cookie):
    """Send a JSON head declaring ``size`` bytes, then the body in chunks until
    the server answers; the status line and how much body was sent."""
    import select
    import socket as sockets
    from urllib.parse import urlsplit
    host, port = urlsplit(url).hostname, urlsplit(url).port
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: {url}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
            f"Cookie: session={cookie}\r\nConnection: close\r\n\r\n").encode()
    chunk = b"[" + b"1," * (32 * 1024)
    sent = 0
    with sockets.create_connection((host, port)) as s:
        s.sendall(head)
        while sent < size:
            readable, writable, _ = select.select([s], [s], [], 10)
            if readable:
                break
            if not writable:
                raise AssertionError("the server neither read nor answered")
            try:
                sent += s.send(chunk[:size - sent])
            except (BrokenPipeError, ConnectionResetError):
                break
        s.settimeout(10)
        answer = b""
        while b"\r\n" not in answer:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer.split(b"\r\n")[0].decode(), sent


@pytest.mark.server
@pytest.mark.parametrize("size", [BIG, 100 * 1024 * 1024])
def test_large_bodies_refused_before_they_are_read_by_a_real_server(live_server_factory, app,
                                                                   size):
    from servers import Server
    server = live_server_factory(Server, kind="gunicorn-gevent")
    alice, bob = server.register("alice"), server.register("bob")
    cookie = alice.cookies.get("session")
    pid = _worker_pid(server)
    before = _peak_rss_kib(pid)
    for method, path in write_routes(app, bob.user["id"]):
        status, sent = _send_large(server.url, method.upper(), path, size, cookie)
        assert " 413 " in status, (path, status)
        assert sent < size, path
    grown = _peak_rss_kib(pid) - before
    assert grown < size // 1024 // 2, f"peak RSS grew by {grown} KiB"
    assert alice.get(server.url + "/chat/api/me").status_code == 200
