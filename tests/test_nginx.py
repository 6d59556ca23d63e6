"""Debian's nginx with ``deploy/nginx.conf`` in front of two chat processes
(Redis queue, PostgreSQL): sticky long-polling, the WebSocket upgrade through
the proxy, and the proxy's own timeouts and body limit.

nginx runs in the foreground as a subprocess with its prefix, pid, logs and
temporary files in the test's directory; the upstream ports and the listen
port are filled into the shipped file, and its timeouts shortened.
"""
import shutil
import socket
import subprocess
import time

import pytest
import requests

from helpers import ROOT, free_port, read_until_closed
from realservices import ChatClient, postgres_database, queue_env, redis_corner
from servers import Server

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not shutil.which(NGINX), reason="needs nginx (.ci/run installs it)")]
HEADER_TIMEOUT = 2
KEEPALIVE = 3


def render(template, upstreams, port):
    """``deploy/nginx.conf`` with our ports and short timeouts."""
    conf = template
    shipped = "".join(f"    server 127.0.0.1:{p};\n" for p in (5001, 5002, 5003))
    ours = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    for old, new in [(shipped, ours), ("listen 80;", f"listen 127.0.0.1:{port};"),
                     ("client_header_timeout 60s;", f"client_header_timeout {HEADER_TIMEOUT}s;"),
                     ("keepalive_timeout 75s;", f"keepalive_timeout {KEEPALIVE}s;")]:
        assert old in conf, f"deploy/nginx.conf no longer has {old!r}"
        conf = conf.replace(old, new)
    return conf


class Nginx:
    def __init__(self, tmp_path, upstreams):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tmp_path / "nginx"
        self.dir.mkdir()
        (self.dir / "chatapp.conf").write_text(
            render((ROOT / "deploy" / "nginx.conf").read_text(), upstreams, self.port))
        temp = "".join(f"    {k}_temp_path {self.dir / k};\n"
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} info;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    access_log off;\n{temp}    include {self.dir / 'chatapp.conf'};\n}}\n")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
             "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, (self.dir / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)

    def register(self, name):
        s = requests.Session()
        r = s.post(self.url + "/auth/register", json={"username": name, "password": "password123"})
        assert r.status_code == 201, r.text
        s.user = r.json()["user"]
        return s

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxy")
    with postgres_database() as db_uri, redis_corner() as (url, channel):
        apps = [Server(tmp, env=queue_env(url, channel), db_uri=db_uri).start()
                for _ in range(2)]
        proxy = None
        try:
            proxy = Nginx(tmp, [a.port for a in apps])
            yield proxy, apps
        finally:
            if proxy:
                proxy.stop()
            for a in apps:
                a.stop()


def test_chat_through_the_proxy_on_both_transports(site):
    proxy, apps = site
    a, b, c = (proxy.register(f"px{n}{time.monotonic_ns() % 10**6}") for n in "abc")
    polling = ChatClient(proxy.url, a, ("polling",))  # many requests, one process
    ws = ChatClient(proxy.url, b, ("websocket",))
    upgraded = ChatClient(proxy.url, c, ("polling", "websocket"))
    # The other process, reached directly: the queue joins them.
    direct = {s.url: None for s in apps}
    try:
        assert ws.sio.transport() == "websocket"
        for i in range(20):  # polling sessions only work if every request lands on one process
            ack = polling.send(b.user, f"poll {i}")
            assert ack["ok"] and ack["delivered"] is True, ack
            assert ws.expect("message")["content"] == f"poll {i}"
        ack = ws.send(a.user, "over the proxied websocket")
        assert polling.expect("message")["content"] == "over the proxied websocket"
        deadline = time.monotonic() + 5
        while upgraded.sio.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upgraded.sio.transport() == "websocket"
        for server in apps:
            direct[server.url] = ChatClient(server.url, c, ("websocket",))
        ack = ws.send(c.user, "to every tab on both processes")
        for client in [upgraded, *direct.values()]:
            assert client.expect("message")["content"] == "to every tab on both processes"
    finally:
        for client in [polling, ws, upgraded, *[d for d in direct.values() if d]]:
            client.close()


def test_the_proxy_closes_a_slow_head_and_an_idle_connection(site):
    proxy, _ = site
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=HEADER_TIMEOUT + 5) as s:
        s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        read_until_closed(s)
        assert time.monotonic() - started < HEADER_TIMEOUT + 2
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=KEEPALIVE + 5) as s:
        s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        data = read_until_closed(s)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
        assert KEEPALIVE - 1 < time.monotonic() - started < KEEPALIVE + 3


def test_the_proxy_refuses_a_large_body_before_it_is_sent(site):
    proxy, _ = site
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 16777216\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 413")
