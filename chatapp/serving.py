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
import types

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
#: Bytes the servers buffer per connection to read requests and (eventlet) to
#: write responses (their defaults: 8 and 16 KiB). A WebSocket keeps its
#: connection's buffers for its whole life; a larger body or response is read
#: or written past the buffer, not through it.
READ_BUFFER = 1024
WRITE_BUFFER = 4096


def _direct(wsgi_app):
    """``wsgi_app``, or its bound ``__call__`` when it is an object of a class
    written in Python.

    CPython (3.11+) runs a call to a function or a bound method in the same C
    frame, but calling an object through its class's ``__call__`` nests one.
    A WebSocket's green thread stays inside the app for the socket's whole
    life, and its saved C stack keeps every nested frame: about 0.7 KiB per
    connection each.
    """
    if isinstance(getattr(type(wsgi_app), "__call__", None), types.FunctionType):
        return wsgi_app.__call__
    return wsgi_app


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
                 body_limit=None, paths=None, websocket_turns=None):
        self.wsgi_app = wsgi_app
        self._next = _direct(wsgi_app)
        self.engineio_path = "/" + engineio_path.strip("/") + "/"
        self.engineio_limit = engineio_limit
        self.body_limit = body_limit
        self.paths = dict(paths or {})
        #: The async mode's ``sleep`` when Engine.IO's WebSockets are
        #: simple-websocket's (gevent, threading): their sockets are then
        #: read in turns (``GuardedSocket``); ``None`` otherwise.
        self.websocket_turns = websocket_turns

    def __call__(self, environ, start_response):
        if self.websocket_turns is not None and \
                environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            self._guard_websocket(environ)
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
        return self._next(environ, start_response)

    def _guard_websocket(self, environ):
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(self.engineio_path) or path + "/" == self.engineio_path):
            return
        # The connection's socket, where the server hands it to the app to take
        # over (gunicorn's convention, and Werkzeug's, which chatapp's gevent
        # server follows): simple-websocket reads it from there.
        for key in ("gunicorn.socket", "werkzeug.socket"):
            sock = environ.get(key)
            if sock is not None and not isinstance(sock, GuardedSocket):
                environ[key] = GuardedSocket(sock, self.websocket_turns)
                return

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
    if isinstance(getattr(app.wsgi_app, "__self__", None), RequestLimits):
        return None  # called before
    # Flask-SocketIO's middleware knows the path it serves Engine.IO on.
    path = getattr(getattr(socketio, "sockio_mw", None), "engineio_path", None) or "socket.io"
    # eventlet's WebSocket refuses an oversized frame from its header and reads
    # one frame per call; simple-websocket (gevent, threading) does neither.
    turns = socketio.sleep if socketio.async_mode in ("gevent", "threading") else None
    limits = RequestLimits(app.wsgi_app, engineio_path=path,
                           engineio_limit=socketio.server.eio.max_http_buffer_size,
                           body_limit=app.config.get("MAX_CONTENT_LENGTH"),
                           paths=_own_body_limits(app), websocket_turns=turns)
    app.wsgi_app = limits.__call__  # a bound method: no nested C frame (_direct)
    if drain_on_sigterm is None:
        drain_on_sigterm = "gunicorn" in sys.modules and socketio.async_mode != "threading"
    if drain_on_sigterm:
        watcher = SigtermDrain(app)
        watcher.install(then=signal.getsignal(signal.SIGTERM))
        return watcher
    return None


class GuardedSocket:
    """A WebSocket connection's socket as simple-websocket reads it.

    simple-websocket's reader (one green thread per connection) reads 4 KiB at
    a time and decodes every frame in it, then reads again: under gevent a read
    returns at once while data is waiting, so a client that writes thousands
    of frames at once had its whole burst decoded before any other connection
    ran. This socket, which chat's middleware hands it instead:

    - waits for the loop's next turn (``pause``, the async mode's ``sleep``)
      before a read whenever the previous read filled the buffer (more is
      waiting): a burst is decoded 4 KiB per turn of the loop;
    - writes with ``sendall``: simple-websocket writes each frame with one
      ``send``, which under gevent may write part of a frame when the
      client's window is full.

    It reads no frame: the size of a message is simple-websocket's business,
    and python-engineio gives it no limit (docs/upstream).
    Anything else is the socket's own.
    """

    #: Seconds a reader whose last read filled its buffer waits before the
    #: next: a timer, not ``sleep(0)``, so the loop polls every other socket
    #: and runs its timers first (with ``sleep(0)`` gevent may run the reader
    #: again before it polls: victims' p99 was worse than without yielding).
    TURN = 0.001

    def __init__(self, sock, pause):
        self.sock = sock
        self.pause = pause
        self.full = False  # the last read filled the caller's buffer

    def recv(self, size, *flags):
        if self.full:
            self.pause(self.TURN)
        data = self.sock.recv(size, *flags)
        self.full = len(data) >= size
        return data

    def send(self, data, *flags):
        self.sock.sendall(data, *flags)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


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

    class Protocol(eventlet.wsgi.HttpProtocol):
        # socketserver's buffer sizes, set the way it documents: in a subclass.
        rbufsize = READ_BUFFER
        wbufsize = WRITE_BUFFER

    server = eventlet.spawn(
        eventlet.wsgi.server, listener, _direct(app.wsgi_app), protocol=Protocol,
        custom_pool=eventlet.GreenPool(cap), keepalive=timeout, socket_timeout=timeout,
        log_output=False, debug=False)
    while not drain.received and not server.dead:
        eventlet.sleep(0.2)
    if server.dead:
        return server.wait()
    drain.drain()
    server.kill(SystemExit())  # stop accepting; requests in progress finish
    with eventlet.Timeout(10, False):
        server.wait()
    return 0


class _SmallReadBuffer:
    """A connection's socket whose ``makefile`` buffers ``READ_BUFFER`` bytes.

    gevent's pywsgi reads a connection's requests through one file from
    ``makefile`` (8 KiB by default), kept for the connection's life, a
    WebSocket's included; anything else is the socket's own.
    """

    def __init__(self, sock):
        self.sock = sock

    def makefile(self, mode="r", buffering=None, **kwargs):
        if buffering is None or buffering < 0:
            buffering = READ_BUFFER
        return self.sock.makefile(mode, buffering, **kwargs)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def _serve_gevent(app, host, port, timeout, cap, backlog, drain):
    import gevent
    from gevent import pool, pywsgi

    busy = set()

    class Handler(pywsgi.WSGIHandler):
        """Each connection's reads and writes time out after ``timeout`` s."""

        def __init__(self, sock, address, server, *args, **kwargs):
            super().__init__(_SmallReadBuffer(sock), address, server, *args, **kwargs)

        def handle_one_response(self):
            busy.add(self)
            try:
                return super().handle_one_response()
            finally:
                busy.discard(self)

        def handle(self):
            self.socket.settimeout(timeout)
            return super().handle()

        def get_environ(self):
            environ = super().get_environ()
            if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                # The connection's socket for the app to take over, where
                # Werkzeug's server puts it: simple-websocket then reads it
                # itself (not a duplicate of it), through chat's GuardedSocket
                # (RequestLimits), and ends the request with ConnectionError.
                # (Under gunicorn's key instead, Engine.IO's middleware would
                # make a class per request for eventlet, kept by the socket.)
                environ["werkzeug.socket"] = self.socket
            return environ

        def run_application(self):
            upgrade = "werkzeug.socket" in self.environ
            try:
                return super().run_application()
            except ConnectionError:
                if not upgrade:
                    raise
                return None  # the WebSocket is over; it wrote its own response
            finally:
                if upgrade:
                    # Once the WebSocket is over, so is the connection.
                    self.close_connection = True

    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _nodelay(listener)
    listener.bind((host, port))
    listener.listen(backlog)
    server = pywsgi.WSGIServer(listener, _direct(app.wsgi_app), spawn=pool.Pool(cap),
                               handler_class=Handler, log=None)
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
