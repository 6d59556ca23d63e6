"""Start the production server for a run, and watch a process's memory and CPU."""
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            requests.get(url + "/login", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


SERVERS = ("eventlet", "gevent", "gunicorn-gevent", "gunicorn-eventlet")


class ChatServer:
    """chatapp's production server on a free port, with a fresh database:
    ``python wsgi.py`` on eventlet (default) or gevent, ``gunicorn -k gevent``,
    or ``gunicorn -k eventlet`` (gunicorn < 26 only). ``root``: the checkout
    to serve (default: this one), to compare two versions in one sitting."""

    def __init__(self, db_url=None, env=None, kind="eventlet", root=None):
        self.kind = kind
        self.root = Path(root) if root else ROOT
        self.tmp = tempfile.TemporaryDirectory(prefix="chat-bench-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CHATAPP_INSTANCE_PATH": self.tmp.name,
                    "FLASK_SECRET_KEY": secrets.token_hex(16),
                    "FLASK_CHAT_RATE_LIMIT": "0",
                    "FLASK_CHAT_REGISTER_LIMIT": "0", "PYTHONUNBUFFERED": "1"}
        if db_url:
            self.env["FLASK_SQLALCHEMY_DATABASE_URI"] = db_url
        if kind == "gevent":
            self.env["CHATAPP_ASYNC_MODE"] = "gevent"
        if kind == "gunicorn-gevent" and self.root == ROOT:
            # as this checkout's docs/deployment.md runs it (another checkout
            # runs as its own bench would)
            self.env.setdefault("GEVENT_TRACK_GREENLET_TREE", "false")
        self.env.update(env or {})
        self.proc = None

    #: Seconds the server may take to start answering.
    ready_timeout = 30

    def command(self):
        if self.kind.startswith("gunicorn-"):
            worker = self.kind.split("-", 1)[1]
            # --no-control-socket is gunicorn 26's; the legacy eventlet worker
            # needs gunicorn < 26, which has no control socket.
            extra = ["--no-control-socket"] if worker == "gevent" else []
            return [sys.executable, "-m", "gunicorn", "-k", worker, "-w", "1",
                    "--keep-alive", "60", "--worker-connections", "10000", *extra,
                    "--bind", f"127.0.0.1:{self.port}", "wsgi:app"]
        return [sys.executable, str(self.root / "wsgi.py"), "--port", str(self.port)]

    def __enter__(self):
        self.log = open(Path(self.tmp.name) / "server.log", "wb")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.root, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        wait_ready(self.url, self.proc, self.ready_timeout)
        return self

    @property
    def pid(self):
        """The process that serves: gunicorn's worker, not its arbiter."""
        if not self.kind.startswith("gunicorn-"):
            return self.proc.pid
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return int(f.read().split()[0])

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


class ProcWatch:
    """RSS and CPU seconds of one process, read from /proc (Linux)."""

    def __init__(self, pid):
        self.pid = pid

    def rss_kib(self):
        if not self.pid:
            return None
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None

    def cpu_s(self):
        if not self.pid:
            return None
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            return None
