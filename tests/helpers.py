"""Test helpers: users and their clients, real servers in subprocesses."""
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.security import generate_password_hash

from chatapp.standalone.models import User, db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "password123"
NO_WEBSOCKET = "delete window.WebSocket;"  # as on a browser that never had it
TIMEOUT_MS = 15000  # Playwright's wait for anything in the browser tests
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


class AuthActions:
    """Register or log in users, each with a test client of their own."""

    def __init__(self, app):
        self.app = app

    def register(self, name, password=PASSWORD):
        client = self.app.test_client()
        r = client.post("/auth/register", json={"username": name, "password": password})
        assert r.status_code == 201, r.json
        client.user = r.json["user"]
        return client

    def socket(self, client, **kw):
        sio = self.app.extensions["socketio"]
        sc = sio.test_client(self.app, namespace="/chat", flask_test_client=client, **kw)
        assert sc.is_connected("/chat")
        return sc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def close_client(sio, flush_timeout=5):
    """Disconnect a python-socketio client so that the server hears it.

    On the polling transport the Engine.IO client's ``disconnect()`` queues the
    close and stops its write loop at once: if that loop is still waiting for
    the answer to an earlier POST (an event's ack comes back on the long-poll
    GET, possibly before the POST that carried the event is answered), the loop
    ends without sending what was queued, and the server keeps the socket until
    its ping timeout. So first wait (bounded: the server may be gone) until
    every queued packet has been posted and answered, then disconnect.
    """
    if not sio.connected:
        return
    if sio.transport() == "polling":
        flushed = threading.Thread(target=sio.eio.queue.join, daemon=True)
        flushed.start()
        flushed.join(flush_timeout)
    sio.disconnect()


def start_process(cmd, env, log, url, timeout=30):
    """Start ``cmd`` (output to the open file ``log``) and wait until ``url``
    answers; raise with the process's output if it exits or never answers."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[1:3]} exited:\n{Path(log.name).read_text()}")
        try:
            requests.get(url + "/login", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{cmd[1:3]} did not start:\n{Path(log.name).read_text()}")


def read_until_closed(sock):
    """Everything ``sock`` receives until the server closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def stop_process(proc, sig=None):
    """Stop ``proc`` with ``sig`` (SIGTERM by default), killing it after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig or signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SeededAuth(AuthActions):
    """Users stored with a hash made once and logged in through the session:
    hashing is most of a registration's cost, and test_auth covers the real one."""

    def register(self, name, password=PASSWORD):
        with self.app.app_context():
            user = User(username=name, username_key=name.lower(), password_hash=_hash())
            db.session.add(user)
            db.session.commit()
            session_id = user.get_id()
        client = self.app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = session_id
            sess["_fresh"] = True
        client.user = client.get("/chat/api/me").json["user"]
        return client


@functools.cache
def _hash():
    return generate_password_hash(PASSWORD)


@contextlib.contextmanager
def running(servers):
    """Start ``servers`` (LiveServers), yield them, stop every one started."""
    started = []
    try:
        for s in servers:
            started.append(s.start())
        yield started
    finally:
        for s in started:
            s.stop()


class LiveServer:
    """``python wsgi.py`` (eventlet) in a subprocess on a free port."""

    def __init__(self, tmp_path, env=None, port=None, db_uri=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = tmp_path / f"instance-{self.port}"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "CHATAPP_INSTANCE_PATH": str(self.instance),
                    "FLASK_SECRET_KEY": "live-test-secret", "FLASK_CHAT_RATE_LIMIT": "0",
                    "FLASK_CHAT_REGISTER_LIMIT": "0",
                    "PYTHONUNBUFFERED": "1"}
        if db_uri:
            self.env["FLASK_SQLALCHEMY_DATABASE_URI"] = db_uri
        self.env.update(env or {})
        self.log = self.instance / "server.log"
        self.proc = None

    def command(self):
        return [sys.executable, str(ROOT / "wsgi.py"), "--port", str(self.port)]

    def start(self):
        self._log = open(self.log, "ab")
        self.proc = start_process(self.command(), self.env, self._log, self.url)
        return self

    def stop(self, sig=None):
        if self.proc:
            stop_process(self.proc, sig)
            self._log.close()

    def register(self, name, password=PASSWORD):
        """A logged-in ``requests.Session`` for a new user, with ``.user``."""
        s = requests.Session()
        r = s.post(self.url + "/auth/register", json={"username": name, "password": password})
        assert r.status_code == 201, r.text
        s.user = r.json()["user"]
        return s
