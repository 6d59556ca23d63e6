"""Shared fixtures: the app and its clients, and the real server in a subprocess."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from chatapp import create_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "password123"


@pytest.fixture
def app(tmp_path):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'chat.sqlite'}",
        "SOCKETIO_ASYNC_MODE": "threading",
        "WTF_CSRF_ENABLED": True,
        "CHAT_RATE_LIMIT": 0,
    })
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


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


@pytest.fixture
def auth(app):
    return AuthActions(app)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``python wsgi.py`` (eventlet) in a subprocess on a free port."""

    def __init__(self, tmp_path, env=None, port=None, db_uri=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = tmp_path / f"instance-{self.port}"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "CHATAPP_INSTANCE_PATH": str(self.instance),
                    "FLASK_SECRET_KEY": "live-test-secret", "FLASK_CHAT_RATE_LIMIT": "0",
                    "PYTHONUNBUFFERED": "1"}
        if db_uri:
            self.env["FLASK_SQLALCHEMY_DATABASE_URI"] = db_uri
        self.env.update(env or {})
        self.log = self.instance / "server.log"
        self.proc = None

    def start(self):
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "wsgi.py"), "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()}")
            try:
                requests.get(self.url + "/login", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self, sig=None):
        if self.proc and self.proc.poll() is None:
            if sig:
                self.proc.send_signal(sig)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()

    def register(self, name, password=PASSWORD):
        """A logged-in ``requests.Session`` for a new user, with ``.user``."""
        s = requests.Session()
        r = s.post(self.url + "/auth/register", json={"username": name, "password": password})
        assert r.status_code == 201, r.text
        s.user = r.json()["user"]
        return s


@pytest.fixture
def live_server_factory(tmp_path):
    servers = []

    def make(**kw):
        server = LiveServer(tmp_path, **kw).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def live_server(live_server_factory):
    return live_server_factory()
