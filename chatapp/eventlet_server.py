"""Serve chat on eventlet without a green thread for each idle connection.

``wsgi.py`` uses this when it runs the server itself (:func:`serve`). Stock
``eventlet.wsgi`` keeps a green thread, with its stacks and its HTTP request
state, for every open connection, and pays for a timer and two ``epoll``
changes each time a keep-alive connection waits for its next request; a
chat message between long-polling clients costs three requests. Here:

- **HTTP**: every connection is a hub listener that stays registered while
  the connection is open. What arrives is parsed as it comes (``httptools``,
  the C parser uvicorn uses); a complete request, body included, gets a
  green thread that runs the WSGI application and ends. A pending long poll
  holds one; an idle keep-alive connection holds none.
- **WebSocket**: after the handshake the connection leaves the HTTP server.
  The hub watches the socket; when a frame arrives, a short-lived green
  thread reads what is there (frames decoded by ``wsproto``), handles the
  messages one at a time, in order, and ends. Packets to the client are
  written at once without blocking; what the socket cannot take yet waits in
  a buffer the hub flushes. An idle WebSocket is a socket, a frame decoder
  and Engine.IO's socket state.

Application code never sees any of this: it uses Flask-SocketIO as usual.
The Engine.IO internals relied on are those of python-engineio 4.
"""
import base64
import binascii
import collections
import errno
import io
import logging
import socket
import sys
import time
import weakref
from email.utils import formatdate
from urllib.parse import unquote_to_bytes

import eventlet
import greenlet
import httptools
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import eventlet as eio_eventlet
from engineio.socket import Socket as EngineIOSocket
from eventlet import greenio
from eventlet.hubs import get_hub
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, generate_accept_token

log = logging.getLogger(__name__)

DETACH = "chatapp.detach"
RECV_SIZE = 65536
# Larger request heads get 431, larger bodies 413; either closes the connection.
MAX_HEAD = 64 << 10
MAX_BODY = 16 << 20
# Requests parsed ahead of the one being served (pipelining) before the
# connection stops reading.
MAX_QUEUED = 16
# A client that stops reading is dropped once this much is waiting for it.
MAX_BACKLOG = 1 << 20
# How long a closing WebSocket may take to flush its last frames.
CLOSE_TIMEOUT = 5.0


def _noop(*args):
    pass


def _error_response(status):
    body = status.encode("ascii") + b"\n"
    return (b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status.encode("ascii"), len(body), body))


BAD_REQUEST = _error_response("400 Bad Request")
HEAD_TOO_LARGE = _error_response("431 Request Header Fields Too Large")
BODY_TOO_LARGE = _error_response("413 Content Too Large")
SERVER_ERROR = _error_response("500 Internal Server Error")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Status codes whose responses have no body (and HEAD's).
_BODYLESS = frozenset((204, 304))

_env_keys = {}  # request header name (bytes) -> environ key, or None


def _env_key(name):
    key = _env_keys.get(name)
    if key is None and name not in _env_keys:
        text = name.decode("latin-1")
        # A name with "_" would share its key with the "-" spelling: dropped,
        # as eventlet, gunicorn and Werkzeug's server do.
        if "_" not in text:
            key = text.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
        if len(_env_keys) < 1000:
            _env_keys[name] = key
    return key


_date = [0, b""]


def _date_line():
    now = int(time.time())
    if _date[0] != now:
        _date[0], _date[1] = now, b"Date: %s\r\n" % formatdate(now, usegmt=True).encode("ascii")
    return _date[1]


class _Lost(Exception):
    """The client went away while a response was being written."""


class _Refused(Exception):
    """Raised in a parser callback: the request is answered with ``response``."""

    def __init__(self, response):
        super().__init__(response)
        self.response = response


class _Request:
    __slots__ = ("method", "url", "version", "headers", "body", "keep_alive",
                 "expect", "upgrade", "length", "error")

    def __init__(self):
        self.url, self.headers, self.body = b"", [], []
        self.expect = self.upgrade = False
        self.length = self.error = None


def _error(response):
    request = _Request()
    request.error = response
    return request


# accept() errors that pass (out of descriptors or memory, a client gone).
_ACCEPT_AGAIN = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                           errno.ECONNABORTED, errno.EPROTO, errno.EPERM))


class HttpServer:
    """HTTP/1.1 for a WSGI application, each connection driven by the hub.

    ``max_requests`` caps the requests served at once (each in a green
    thread; a pending long poll is one): connections with a request beyond it
    wait for a slot, in order.
    """

    def __init__(self, listener, app, max_requests=10000):
        self.listener, self.app, self.max_requests = listener, app, max_requests
        host, port = listener.getsockname()[:2]
        self.base_environ = {
            "SCRIPT_NAME": "", "SERVER_NAME": host, "SERVER_PORT": str(port),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        self.active = 0
        self.waiting = collections.deque()

    def serve(self):
        """Accept connections until killed, then wait (a caller's timeout
        bounds it) for the requests in progress to finish."""
        try:
            while True:
                try:
                    sock, addr = self.listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_AGAIN:
                        raise
                    log.warning("accept failed: %s", exc)  # out of descriptors, say
                    eventlet.sleep(0.1)
                    continue
                HttpConnection(self, sock, addr)
        except (SystemExit, KeyboardInterrupt, greenlet.GreenletExit):
            pass
        finally:
            self.listener.close()
        while self.active:
            eventlet.sleep(0.05)

    def _start(self, connection):
        if self.active >= self.max_requests:
            self.waiting.append(connection)
        else:
            self.active += 1
            eventlet.spawn_n(connection.run)

    def _done(self):
        while self.waiting:
            connection = self.waiting.popleft()
            if connection.requests:
                eventlet.spawn_n(connection.run)
                return
        self.active -= 1


def serve(listener, app, max_requests=10000):
    """Serve ``app`` on ``listener`` (from ``eventlet.listen``) until killed."""
    HttpServer(listener, app, max_requests).serve()


class HttpConnection:
    """One client connection: parsed by the hub, served by short green threads."""

    __slots__ = ("server", "sock", "raw", "addr", "parser", "reader", "current",
                 "in_head", "head_size", "body_size", "requests", "busy", "eof", "closed",
                 "detached", "early", "__weakref__")

    def __init__(self, server, sock, addr):
        self.server, self.sock, self.raw, self.addr = server, sock, sock.fd, addr
        try:  # as eventlet does: acknowledge at once, not after a delay
            self.raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, True)
        except (AttributeError, OSError):
            pass
        self.parser = httptools.HttpRequestParser(self)
        self.current = None
        self.in_head = False
        self.head_size = self.body_size = 0
        self.requests = []  # parsed, in order; rarely more than one
        self.busy = self.eof = self.closed = self.detached = False
        self.early = b""
        self.reader = None
        self._listen()

    # -- reading (in the hub) ---------------------------------------------
    def _listen(self):
        hub = get_hub()
        self.reader = hub.add(hub.READ, self.raw.fileno(), self._readable,
                              self._fd_closed, _noop)

    def _unlisten(self):
        if self.reader is not None:
            get_hub().remove(self.reader)
            self.reader = None

    def _fd_closed(self, exc):
        self.reader = None
        self._eof()

    def _readable(self, fileno):
        try:
            data = self.raw.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._eof()
            return
        if self.in_head:  # a head that never ends is refused as it grows
            self.head_size += len(data)
            if self.head_size > MAX_HEAD:
                self._stop(HEAD_TOO_LARGE)
                self._serve_queue()
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # The request is queued; what follows it is the new protocol's.
            self.early = data[upgrade.args[0]:]
            self._unlisten()
            self.parser = None
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if not isinstance(refused, _Refused):
                log.error("HTTP parser callback failed", exc_info=refused)
            self._stop(refused.response if isinstance(refused, _Refused) else BAD_REQUEST)
        except httptools.HttpParserError:
            self._stop(BAD_REQUEST)
        if self.parser is not None and len(self.requests) >= MAX_QUEUED:
            self._unlisten()  # read on once the queue is served
        self._serve_queue()

    def _serve_queue(self):
        if self.requests and not self.busy:
            self.busy = True
            self.server._start(self)

    def _stop(self, response):
        """Answer ``response`` after what is queued, then close."""
        self._unlisten()
        self.current = None
        self.requests.append(_error(response))
        self.parser = None

    def _eof(self):
        self._unlisten()
        self.eof = True
        if not self.busy:
            self._close()

    # httptools callbacks
    def on_message_begin(self):
        self.current = _Request()
        self.in_head = True
        self.head_size = self.body_size = 0

    def on_url(self, url):
        self.current.url += url
        self.head_size += len(url)
        if self.head_size > MAX_HEAD:
            raise _Refused(HEAD_TOO_LARGE)

    def on_header(self, name, value):
        request = self.current
        request.headers.append((name, value))
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            raise _Refused(HEAD_TOO_LARGE)
        if len(name) == 6 and name.lower() == b"expect":
            request.expect = value.strip().lower() == b"100-continue"
        elif len(name) == 14 and name.lower() == b"content-length":
            request.length = value

    def on_headers_complete(self):
        request, parser = self.current, self.parser
        self.in_head = False
        request.method = parser.get_method()
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        if request.length is not None:
            try:
                too_large = int(request.length) > MAX_BODY
            except ValueError:
                raise _Refused(BAD_REQUEST) from None
            if too_large:
                raise _Refused(BODY_TOO_LARGE)  # before the client sends it
        if request.expect and request.version == "1.1" and not self.busy \
                and not self.requests:  # (else a client sends the body after a pause)
            try:  # the body is read before the application runs
                self.raw.send(CONTINUE)
            except OSError:
                pass

    def on_body(self, body):
        self.body_size += len(body)
        if self.body_size > MAX_BODY:
            raise _Refused(BODY_TOO_LARGE)  # a chunked body without a length
        self.current.body.append(body)

    def on_message_complete(self):
        request, self.current = self.current, None
        if request is not None:
            self.requests.append(request)

    # -- serving (in a green thread) ---------------------------------------
    def run(self):
        """Serve the queued requests in order."""
        try:
            while self.requests and not self.closed:
                request = self.requests.pop(0)
                if request.error is not None:
                    self._send(request.error)
                    keep = False
                else:
                    keep = self._respond(request)
                if self.detached:
                    return
                if not keep:
                    self._close()
                    return
                if self.reader is None and not self.eof and self.parser is not None:
                    self._listen()  # the queue had filled
        except _Lost:
            self._close()
        except Exception:
            log.exception("HTTP connection from %s failed", self.addr[0])
            self._close()
        finally:
            self.busy = False
            self.server._done()
            if self.eof and not self.closed and not self.detached:
                self._close()

    def _environ(self, request):
        env = dict(self.server.base_environ)
        url = request.url
        path, _, query = url.partition(b"?")
        path = path.partition(b"#")[0]
        env["REQUEST_METHOD"] = request.method.decode("ascii")
        env["PATH_INFO"] = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
        env["QUERY_STRING"] = query.decode("latin-1")
        env["RAW_URI"] = env["REQUEST_URI"] = url.decode("latin-1")
        env["SERVER_PROTOCOL"] = "HTTP/" + request.version
        env["REMOTE_ADDR"], env["REMOTE_PORT"] = self.addr[0], str(self.addr[1])
        for name, value in request.headers:
            key = _env_key(name)
            if key is None:
                continue
            value = value.strip(b" \t").decode("latin-1")
            if key in env:
                env[key] += "," + value
            else:
                env[key] = value
        body = b"".join(request.body)
        if body or "CONTENT_LENGTH" in env:
            env["CONTENT_LENGTH"] = str(len(body))  # a chunked body, now whole
        env["wsgi.input"] = io.BytesIO(body)
        # Only an upgrade request can leave: Socket.IO keeps a connect
        # request's environ as long as the socket, and a weak reference holds
        # nothing alive.
        env[DETACH] = weakref.WeakMethod(self._detach) if request.upgrade else None
        return env

    def _respond(self, request):
        """Run the application for one request; whether to keep the connection."""
        env = self._environ(request)
        response = _Response(request, self)
        result = None
        try:
            result = self.server.app(env, response.start_response)
            if self.detached:
                return False
            if response.status is not None and not response.head_sent and \
                    response.length is None and hasattr(result, "__len__"):
                response.length = sum(map(len, result))
            for data in result:
                if data:
                    response.write(data)
            response.finish()
        except _Lost:
            raise
        except Exception:
            log.exception("Error serving %s %s", env["REQUEST_METHOD"], env["PATH_INFO"])
            if response.head_sent:
                return False  # the client sees a cut-off response
            self._send(SERVER_ERROR)
            return False
        finally:
            if hasattr(result, "close"):
                try:
                    result.close()
                except Exception:
                    log.exception("Error closing the response to %s", env["PATH_INFO"])
        return response.keep_alive and not request.upgrade

    def _send(self, data):
        try:
            sent = self.raw.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            raise _Lost() from None
        if sent < len(data):
            try:
                self.sock.sendall(data[sent:])  # waits for the socket, green
            except OSError:
                raise _Lost() from None

    def _detach(self):
        """Hand the connection to another protocol; returns its socket and
        what has been read past the request (a client's first frames)."""
        self._unlisten()
        self.detached = True
        self.parser = None
        return self.sock, self.early

    def _close(self):
        if self.closed:
            return
        self.closed = True
        self._unlisten()
        self.requests.clear()
        self.parser = None
        greenio.shutdown_safe(self.sock)
        self.sock.close()


class _Response:
    """One WSGI response: ``start_response``, ``write`` and the framing."""

    __slots__ = ("request", "conn", "status", "headers", "head_sent", "length",
                 "length_given", "chunked", "bodyless", "no_length", "keep_alive")

    def __init__(self, request, conn):
        self.request, self.conn = request, conn
        self.status = self.headers = self.length = None
        self.head_sent = self.chunked = self.length_given = False
        self.bodyless = request.method == b"HEAD"
        self.no_length = False
        self.keep_alive = request.keep_alive

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        code = int(status[:3])
        self.status, self.headers, self.length = status, headers, None
        self.length_given = False
        self.no_length = code in _BODYLESS or 100 <= code < 200
        self.bodyless = self.no_length or self.request.method == b"HEAD"
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                self.length, self.length_given = int(value), True
        return self.write

    def _head(self):
        if self.status is None:
            raise AssertionError("write() before start_response()")
        lines = [b"HTTP/1.1 ", self.status.encode("latin-1"), b"\r\n"]
        date = False
        for name, value in self.headers:
            name, value = str(name), str(value)
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                raise ValueError(f"invalid response header {name!r}")
            lower = name.lower()
            if lower == "connection" and "close" in value.lower():
                self.keep_alive = False
            elif lower == "date":
                date = True
            lines += (name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n")
        if not date:
            lines.append(_date_line())
        if self.length is not None:
            if not self.length_given and not self.no_length:
                lines.append(b"Content-Length: %d\r\n" % self.length)
        elif self.bodyless:
            pass
        elif self.request.version == "1.1":
            self.chunked = True
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            self.keep_alive = False  # the body ends when the connection does
        if not self.keep_alive:
            lines.append(b"Connection: close\r\n")
        elif self.request.version == "1.0":
            lines.append(b"Connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self.head_sent = True
        return b"".join(lines)

    def write(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        out = b"" if self.head_sent else self._head()
        if self.bodyless:
            data = b""
        elif self.chunked and data:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        if out or data:
            self.conn._send(out + data if out else data)

    def finish(self):
        if not self.head_sent:
            if self.length is None and not self.bodyless:
                self.length = 0
            self.write(b"")
        elif self.chunked:
            self.conn._send(b"0\r\n\r\n")


class WebSocketUpgrade:
    """Engine.IO's ``websocket`` factory: hands the upgraded connection to a
    :class:`WebSocket`. Falls back to Engine.IO's own eventlet WebSocket
    when the request did not come through :class:`HttpServer` (gunicorn)."""

    def __init__(self, handler, server):
        self.handler, self.server = handler, server

    def __call__(self, environ, start_response):
        if DETACH not in environ:
            return eio_eventlet.WebSocketWSGI(self.handler, self.server)(
                environ, start_response)
        detach = environ[DETACH]
        connection = {p.strip() for p in environ.get("HTTP_CONNECTION", "").lower().split(",")}
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if (detach is None or "upgrade" not in connection
                or environ.get("HTTP_UPGRADE", "").lower() != "websocket"
                or environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or not valid_key):
            start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                               ("Sec-WebSocket-Version", "13")])
            return [b"Bad WebSocket handshake"]
        sock, early = detach()()
        try:
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                         + generate_accept_token(key.encode("ascii")) + b"\r\n\r\n")
        except OSError:
            greenio.shutdown_safe(sock)
            sock.close()
            return []
        WebSocket(sock, early, self.handler.__self__)
        return []


PROBE, UPGRADE, OPEN = "probe", "upgrade", "open"


class WebSocket:
    """One Engine.IO socket's WebSocket, driven by the hub."""

    __slots__ = ("sock", "raw", "eio", "ws", "state", "reader", "writer", "out",
                 "parts", "size", "closed", "close_when_flushed")

    def __init__(self, sock, early, eio):
        self.sock, self.raw, self.eio = sock, sock.fd, eio
        self.ws = Connection(ConnectionType.SERVER, trailing_data=early)
        self.reader = self.writer = self.out = self.parts = None
        self.size = 0
        self.closed = self.close_when_flushed = False
        if eio.connected:  # an upgrade from long-polling: probe first
            eio.upgrading = True
            self.state = PROBE
        else:
            eio.connected = eio.upgraded = True
            self._attach()
        if early:
            eventlet.spawn_n(self._pump)
        else:
            self._listen()

    # -- reading ---------------------------------------------------------
    def _listen(self):
        if not self.closed and self.reader is None and not self.close_when_flushed:
            hub = get_hub()
            self.reader = hub.add(hub.READ, self.raw.fileno(), self._readable,
                                  self._fd_closed, _noop)

    def _readable(self, fileno):
        get_hub().remove(self.reader)
        self.reader = None
        eventlet.spawn_n(self._pump)

    def _fd_closed(self, exc):
        self._lost()

    def _pump(self):
        """Handle what has arrived, one message at a time, then read more."""
        while True:
            try:
                for event in self.ws.events():
                    self._event(event)
                    if self.closed or self.close_when_flushed:
                        return
            except Exception:
                log.exception("WebSocket %s: closing after an unexpected error", self.eio.sid)
                self._lost()
                return
            if self.closed:
                return
            try:
                data = self.raw.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                self._listen()
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            self.ws.receive_data(data)

    def _event(self, event):
        if isinstance(event, (TextMessage, BytesMessage)):
            self.size += len(event.data)
            if self.size > self.eio.server.max_http_buffer_size:
                self._fail(1009, "message too big")
                return
            if not event.message_finished:
                if self.parts is None:
                    self.parts = []
                self.parts.append(event.data)
                return
            data = event.data
            if self.parts is not None:
                self.parts.append(data)
                data = ("" if isinstance(data, str) else b"").join(self.parts)
                self.parts = None
            self.size = 0
            self._message(data)
        elif isinstance(event, Ping):
            self._write(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.close(event.code)  # an answer, or a protocol error's code
            self._gone()

    def _message(self, data):
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except Exception:
            self._fail(1003, "not an Engine.IO packet")
            return
        eio = self.eio
        if eio.closed:  # closed meanwhile (say, during an upgrade)
            self.close()
            self.state = None
            return
        if self.state is PROBE:
            if pkt.packet_type == eio_packet.PING and pkt.data == "probe":
                self._write_packet(eio_packet.Packet(eio_packet.PONG, data="probe"))
                eio.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
                self.state = UPGRADE
            else:
                self._abandon_upgrade()
        elif self.state is UPGRADE:
            if pkt.packet_type == eio_packet.UPGRADE:
                eio.upgraded, eio.upgrading = True, False
                self._attach()
            else:
                self._abandon_upgrade()
        else:
            try:
                eio.receive(pkt)
            except eio_exceptions.UnknownPacketError:
                pass
            except eio_exceptions.SocketIsClosedError:
                self._lost()

    def _abandon_upgrade(self):
        log.info("%s: failed WebSocket upgrade", self.eio.sid)
        self.close(1002)
        self._gone()

    # -- writing ---------------------------------------------------------
    def _attach(self):
        """Take over the socket's sends, after what is already queued."""
        self.state = OPEN
        eio = self.eio
        queue, empty = eio.queue, eio.server.get_queue_empty_exception()
        while True:
            try:
                pkt = queue.get(block=False)
            except empty:
                break
            queue.task_done()
            if pkt is not None:
                self._write_packet(pkt)
        eio._websocket = self

    def _write_packet(self, pkt):
        if self.closed or self.ws.state is not ConnectionState.OPEN:
            return
        data = pkt.encode()
        self._write(self.ws.send(TextMessage(data) if isinstance(data, str)
                                 else BytesMessage(data)))

    def _write(self, data):
        if self.closed:
            return
        if self.out is not None:
            self.out += data
            if len(self.out) > MAX_BACKLOG:
                log.info("%s: client not reading, dropped", self.eio.sid)
                self._lost()
            return
        try:
            sent = self.raw.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._lost()
            return
        if sent < len(data):
            self.out = bytearray(data[sent:])
            hub = get_hub()
            self.writer = hub.add(hub.WRITE, self.raw.fileno(), self._writable,
                                  self._fd_closed, _noop)

    def _writable(self, fileno):
        try:
            sent = self.raw.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost()
            return
        del self.out[:sent]
        if not self.out:
            get_hub().remove(self.writer)
            self.writer = self.out = None
            if self.close_when_flushed:
                self._shutdown()

    # -- closing ---------------------------------------------------------
    def close(self, code=1000):
        """Send a close frame and close after what is waiting to be written."""
        if self.closed or self.close_when_flushed:
            return
        if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            try:
                self._write(self.ws.send(CloseConnection(code)))
            except LocalProtocolError:
                pass
        if self.closed:
            return
        if self.out is None:
            self._shutdown()
        else:
            self.close_when_flushed = True
            self._unlisten()
            get_hub().schedule_call_global(CLOSE_TIMEOUT, self._shutdown)

    def _fail(self, code, reason):
        log.info("%s: WebSocket closed: %s", self.eio.sid, reason)
        self.close(code)
        self._gone()

    def _unlisten(self):
        if self.reader is not None:
            get_hub().remove(self.reader)
            self.reader = None

    def _shutdown(self):
        if self.closed:
            return
        self.closed = True
        self._unlisten()
        if self.writer is not None:
            get_hub().remove(self.writer)
            self.writer = self.out = None
        greenio.shutdown_safe(self.sock)
        self.sock.close()

    def _lost(self):
        self._shutdown()
        self._gone()

    def _gone(self):
        """Tell Engine.IO the WebSocket is gone (off the hub: handlers may wait)."""
        state, self.state = self.state, None
        if state is OPEN:
            eventlet.spawn_n(self.eio.close, wait=False, abort=True,
                             reason=self.eio.server.reason.TRANSPORT_CLOSE)
        elif state is not None:
            self.eio.upgrading = False


_send, _close = EngineIOSocket.send, EngineIOSocket.close


def _socket_send(self, pkt):
    ws = self.__dict__.get("_websocket")
    if ws is None:
        return _send(self, pkt)
    if self.check_ping_timeout():
        ws._write_packet(pkt)


def _socket_close(self, wait=True, abort=False, reason=None):
    ws = self.__dict__.get("_websocket")
    if ws is None:
        return _close(self, wait=wait, abort=abort, reason=reason)
    if not self.closed and not self.closing:
        self.closing = True
        self.server._trigger_event("disconnect", self.sid,
                                   reason or self.server.reason.SERVER_DISCONNECT,
                                   run_async=False)
        if not abort:
            ws._write_packet(eio_packet.Packet(eio_packet.CLOSE))
        self.closed = True
        ws.close()
    self._websocket = None  # no cycle left for the collector


def install(socketio):
    """Serve this SocketIO's WebSockets with :class:`WebSocket`; run the
    server with :func:`serve`."""
    eio = socketio.server.eio
    eio._async = dict(eio._async, websocket=WebSocketUpgrade)
    EngineIOSocket.send = _socket_send
    EngineIOSocket.close = _socket_close
