"""The supported servers, each started for real in a subprocess.

- ``eventlet``: ``python wsgi.py`` (eventlet's WSGI server, the default);
- ``gevent``: ``CHATAPP_ASYNC_MODE=gevent python wsgi.py`` (gevent's pywsgi);
- ``gunicorn-gevent``: ``gunicorn -k gevent -w 1 wsgi:app``;
- ``threading``: ``flask run`` (Werkzeug's development server);
- ``gunicorn-eventlet``: ``gunicorn -k eventlet -w 1 wsgi:app``, the legacy
  worker, only where the installed gunicorn has it (< 26: the
  ``eventlet-gunicorn`` extra, in an environment of its own).
"""
import importlib.util
import sys

from helpers import LiveServer

#: gunicorn 26 removed its eventlet worker; 27 is what the test extra installs.
LEGACY_EVENTLET_WORKER = importlib.util.find_spec("gunicorn") is not None and \
    importlib.util.find_spec("gunicorn.workers.geventlet") is not None
KINDS = ("eventlet", "gevent", "gunicorn-gevent", "threading") + \
    (("gunicorn-eventlet",) if LEGACY_EVENTLET_WORKER else ())
#: The servers a production deployment runs (limits and draining apply).
PRODUCTION = ("eventlet", "gevent", "gunicorn-gevent") + \
    (("gunicorn-eventlet",) if LEGACY_EVENTLET_WORKER else ())


class Server(LiveServer):
    """``LiveServer`` on the server named ``kind``."""

    def __init__(self, tmp_path, kind="eventlet", head_timeout=None, **kw):
        super().__init__(tmp_path, **kw)
        self.kind = kind
        self.head_timeout = head_timeout
        if kind == "gevent":
            self.env["CHATAPP_ASYNC_MODE"] = "gevent"
        if kind == "gunicorn-gevent":  # as docs/deployment.md runs it
            self.env.setdefault("GEVENT_TRACK_GREENLET_TREE", "false")
        if head_timeout is not None:
            self.env["CHATAPP_HEAD_TIMEOUT"] = str(head_timeout)

    def command(self):
        if self.kind in ("eventlet", "gevent"):
            return super().command()
        if self.kind == "gunicorn-gevent":
            return [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
                    "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5",
                    "--keep-alive", str(self.head_timeout or 60),
                    "--worker-connections", "10000", "--no-control-socket", "wsgi:app"]
        if self.kind == "gunicorn-eventlet":  # gunicorn < 26: no control socket
            return [sys.executable, "-m", "gunicorn", "-k", "eventlet", "-w", "1",
                    "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5",
                    "--keep-alive", str(self.head_timeout or 60),
                    "--worker-connections", "10000", "wsgi:app"]
        if self.kind == "threading":
            return [sys.executable, "-m", "flask", "--app", "wsgi", "run",
                    "--port", str(self.port), "--no-reload"]
        raise ValueError(self.kind)
