"""Serving chat in production on servers the ecosystem maintains.

``python wsgi.py`` uses this module, and a host that embeds chat uses the same
two calls:

- ``green_database_waits()`` after the async library's own monkey patching
  and before the app (and its database driver) is set up;
- ``production(app)`` once the app exists: Engine.IO's body limit answered up
  front (``RequestLimits``) and chat drained on SIGTERM under gunicorn.

``serve(app, host, port)`` then runs the stock server of the async mode
(``eventlet.wsgi`` or gevent's ``pywsgi``) with the limits below, all set
through the servers' public options.
"""
import logging
import os
import signal
import socket
import sys

log = logging.getLogger("chatapp")

MODES = ("eventlet", "gevent", "threading")
#: Seconds for a request head to arrive (eventlet: per read; gevent: per read;
#: gunicorn: the whole head, ``--keep-alive``), and for an idle keep-alive
#: connection to send its next request.
HEAD_TIMEOUT = 60.0
#: Pending connections the kernel queues before the server accepts them.
BACKLOG = 2048
#: Connections served at once (each one green thread); more wait in the backlog.
MAX_CONNECTIONS = 10000


def _env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


def patched_mode():
    """The async mode the process is monkey-patched for, or ``None``."""
    eventlet = sys.modules.get("eventlet")
    if eventlet is not None and eventlet.patcher.is_monkey_patched("socket"):
        return "eventlet"
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return "gevent"
    return None


def async_mode(default="eventlet"):
    """``CHATAPP_ASYNC_MODE``, else the mode the process is patched for (a
    gunicorn worker patches before it imports the app), else ``default``."""
    mode = os.environ.get("CHATAPP_ASYNC_MODE") or patched_mode() or default
    if mode not in MODES:
        raise RuntimeError(f"CHATAPP_ASYNC_MODE={mode!r}: choose one of {', '.join(MODES)}.")
    return mode


def green_database_waits():
    """Make psycopg 3 wait for PostgreSQL on the green ``select``.

    psycopg picks its C wait function unless it sees gevent's patched
    ``select``; under eventlet that call blocks the whole process, so one slow
    query would stall every user. psycopg reads the wait function it uses from
    ``PSYCOPG_WAIT_FUNC`` when it is imported: this sets it (unless the
    operator did) to ``wait_select``, which calls the green ``select.select``.
    PyMySQL is pure Python and green once sockets are patched.
    Returns False when psycopg was imported before and waits on C.
    """
    if patched_mode() != "eventlet":
        return True  # threads block only themselves; psycopg detects gevent
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    waiting = sys.modules.get("psycopg.waiting")
    if waiting is not None and waiting.wait is getattr(waiting, "wait_c", None):
        log.warning("psycopg was imported before chatapp.serving.green_database_waits(): "
                    "its waits block every green thread. Call it before the app is set "
                    "up, or set PSYCOPG_WAIT_FUNC=wait_select in the environment.")
        return False
    return True


class RequestLimits:
    """WSGI middleware: refuse a body by its ``Content-Length`` before reading it.

    Engine.IO's long-polling POST over ``max_http_buffer_size`` gets 413 here:
    python-engineio itself would disconnect the session and wait for a poll
    that never comes, holding the request and its connection. Other paths
    get 413 above ``MAX_CONTENT_LENGTH`` when the app sets one (Flask would
    refuse it too, but only once the view reads the body). ``paths`` gives
    some exact paths a limit of their own instead (chat's upload route: its
    view refuses more than ``CHAT_UPLOAD_MAX_BYTES`` by the header itself, in
    the contract's shape, and never reads past it).
    """

    def __init__(self, wsgi_app, engineio_path="/socket.io/", engineio_limit=None,
                 body_limit=None, paths=None):
        self.wsgi_app = wsgi_app
        self.engineio_path = "/" + engineio_path.strip("/") + "/"
        self.engineio_limit = engineio_limit
        self.body_limit = body_limit
        self.paths = dict(paths or {})

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if length:
            path = environ.get("PATH_INFO", "")
            if path.startswith(self.engineio_path) or path + "/" == self.engineio_path:
                limit = self.engineio_limit
            else:
                limit = self.paths.get(path, self.body_limit)
            try:
                too_long = limit is not None and int(length) > limit
            except ValueError:
                return self._refuse(start_response, "400 Bad Request",
                                    b"Content-Length is not a number\n")
            if too_long:
                return self._refuse(start_response, "413 Request Entity Too Large",
                                    b"Request body too large\n")
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _refuse(start_response, status, body):
        # Connection: close, so the server does not read the unread body to
        # reuse the connection.
        start_response(status, [("Content-Type", "text/plain"),
                                ("Content-Length", str(len(body))), ("Connection", "close")])
        return [body]


def production(app, drain_on_sigterm=None):
    """Everything a production host needs for chat, in one call after setup.

    - Engine.IO's and the app's body limits answered from the header
      (``RequestLimits`` in front of the app, Engine.IO included);
    - under gunicorn's async workers, SIGTERM drains chat (acks in flight
      sent, every socket closed so clients reconnect elsewhere) before
      gunicorn's own handler stops the worker.
    ``wsgi.py`` calls it for every server; so does a host's own entry module.
    """
    socketio = app.extensions["socketio"]
    green_database_waits()
    if isinstance(app.wsgi_app, RequestLimits):
        return None  # called before
    # Flask-SocketIO's middleware knows the path it serves Engine.IO on.
    path = getattr(getattr(socketio, "sockio_mw", None), "engineio_path", None) or "socket.io"
    app.wsgi_app = RequestLimits(app.wsgi_app, engineio_path=path,
                                 engineio_limit=socketio.server.eio.max_http_buffer_size,
                                 body_limit=app.config.get("MAX_CONTENT_LENGTH"),
                                 paths=_own_body_limits(app))
    if drain_on_sigterm is None:
        drain_on_sigterm = "gunicorn" in sys.modules and socketio.async_mode != "threading"
    if drain_on_sigterm:
        watcher = SigtermDrain(app)
        watcher.install(then=signal.getsignal(signal.SIGTERM))
        return watcher
    return None


def _own_body_limits(app):
    """Paths whose views bound their bodies themselves, left to them: chat's
    upload route (found in the URL map, wherever chat is mounted) takes up to
    ``CHAT_UPLOAD_MAX_BYTES`` whatever ``MAX_CONTENT_LENGTH`` says, refuses a
    declared length over it with the contract's ``too_large`` before reading,
    and never reads past it (chunked bodies included)."""
    return {rule.rule: None for rule in app.url_map.iter_rules()
            if rule.endpoint == "chat.create_upload"}


class SigtermDrain:
    """Signal handlers cannot wait, so a background task watches for SIGTERM.

    Chat drains while the server still accepts requests (polling clients fetch
    their close packet); only then does ``then`` (e.g. gunicorn's handler) run.
    """

    def __init__(self, app, grace=None):
        self.app = app
        self.grace = grace if grace is not None else _env_float("CHATAPP_SHUTDOWN_GRACE", 1.0)
        self.received = []
        self.done = False

    @property
    def socketio(self):
        return self.app.extensions["socketio"]

    def _record(self, signum, frame):
        self.received.append((signum, frame))

    def install(self, then=None):
        signal.signal(signal.SIGTERM, self._record)
        self.socketio.start_background_task(self._watch, then)

    def _watch(self, then):
        while not self.received:
            self.socketio.sleep(0.2)
        self.drain()
        if callable(then):
            then(*self.received[0])

    def drain(self):
        from . import ops
        ops.drain(self.app, grace=self.grace)
        self.done = True


def serve(app, host="127.0.0.1", port=5000, mode=None):
    """Serve ``app`` on the stock server of ``mode`` until SIGTERM, then drain.

    eventlet: ``eventlet.wsgi.server`` (``keepalive`` and ``socket_timeout``
    bound the head and idle keep-alive; ``custom_pool`` caps connections).
    gevent: ``gevent.pywsgi.WSGIServer`` with a handler that sets the same
    timeout on each connection; a ``gevent.pool.Pool`` caps connections.
    WebSocket comes from Engine.IO's own driver (eventlet's, simple-websocket).
    """
    mode = mode or app.extensions["socketio"].async_mode
    timeout = _env_float("CHATAPP_HEAD_TIMEOUT", HEAD_TIMEOUT)
    cap = int(os.environ.get("CHATAPP_MAX_CONNECTIONS") or MAX_CONNECTIONS)
    backlog = int(os.environ.get("CHATAPP_BACKLOG") or BACKLOG)
    drain = SigtermDrain(app)
    signal.signal(signal.SIGTERM, drain._record)
    if mode == "eventlet":
        return _serve_eventlet(app, host, port, timeout, cap, backlog, drain)
    if mode == "gevent":
        return _serve_gevent(app, host, port, timeout, cap, backlog, drain)
    raise RuntimeError(f"serve() runs eventlet or gevent, not {mode!r}: "
                       "use `flask run` for threading.")


def _nodelay(sock):
    # Accepted sockets inherit this: a small frame (an ack right after a pushed
    # message) goes out at once instead of waiting out the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _serve_eventlet(app, host, port, timeout, cap, backlog, drain):
    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((host, port), backlog=backlog)
    _nodelay(listener)
    log.info("serving on http://%s:%d (eventlet)", host, port)
    server = eventlet.spawn(
        eventlet.wsgi.server, listener, app, custom_pool=eventlet.GreenPool(cap),
        keepalive=timeout, socket_timeout=timeout, log_output=False, debug=False)
    while not drain.received and not server.dead:
        eventlet.sleep(0.2)
    if server.dead:
        return server.wait()
    drain.drain()
    server.kill(SystemExit())  # stop accepting; requests in progress finish
    with eventlet.Timeout(10, False):
        server.wait()
    return 0


def _serve_gevent(app, host, port, timeout, cap, backlog, drain):
    import gevent
    from gevent import pool, pywsgi

    busy = set()

    class Handler(pywsgi.WSGIHandler):
        """Each connection's reads and writes time out after ``timeout`` s."""

        def handle_one_response(self):
            busy.add(self)
            try:
                return super().handle_one_response()
            finally:
                busy.discard(self)

        def handle(self):
            self.socket.settimeout(timeout)
            return super().handle()

        def run_application(self):
            try:
                return super().run_application()
            finally:
                if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                    # simple-websocket worked on a duplicate of the socket:
                    # once the WebSocket is over, so is the connection.
                    self.close_connection = True

    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _nodelay(listener)
    listener.bind((host, port))
    listener.listen(backlog)
    server = pywsgi.WSGIServer(listener, app, spawn=pool.Pool(cap), handler_class=Handler,
                               log=None)
    server.start()
    log.info("serving on http://%s:%d (gevent)", host, port)
    while not drain.received:
        gevent.sleep(0.2)
    drain.drain()
    server.close()  # stop accepting; requests in progress get 10 s
    with gevent.Timeout(10, False):
        while busy:
            gevent.sleep(0.05)
    server.stop(timeout=0)  # idle keep-alive connections just close
    return 0
