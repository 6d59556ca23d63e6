"""Serve chat on eventlet without a green thread for each idle connection.

``wsgi.py`` uses this when it runs the server itself. Stock eventlet keeps a
green thread, with its stacks and its HTTP request state, for every open
connection: a held WebSocket costs two (Engine.IO's reader and writer), and a
long-polling client's idle keep-alive connection one more. Here:

- **WebSocket**: after the handshake the connection leaves ``eventlet.wsgi``.
  The hub watches the socket; when a frame arrives, a short-lived green thread
  reads what is there (frames decoded by ``wsproto``), handles the messages
  one at a time, in order, and ends. Packets to the client are written at
  once without blocking; what the socket cannot take yet waits in a buffer
  the hub flushes. An idle WebSocket is a socket, a frame decoder and
  Engine.IO's socket state.
- **Keep-alive HTTP**: a connection with no request for ``PARK_AFTER``
  (20 ms) is handed to the hub, and a new green thread serves its next
  request. Requests are read through a 1 KiB buffer and responses written
  unbuffered, so a pending poll holds little besides its green thread.
- **Request headers**: well-formed header lines are read without the e-mail
  parser the standard library uses (a tenth of a long-polling request's
  time); anything unusual still goes through it.

Application code never sees any of this: it uses Flask-SocketIO as usual.
The Engine.IO internals relied on are those of python-engineio 4.
"""
import base64
import binascii
import email.parser
import functools
import http.client
import logging
import re
import socket
import weakref

import eventlet
import eventlet.wsgi
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
# A client that stops reading is dropped once this much is waiting for it.
MAX_BACKLOG = 1 << 20
# A keep-alive connection with no request for this long (seconds) leaves its
# green thread. A long-polling client sends its next poll at once; its other
# connection (the sends) waits for the user. Measured: with 0.1 s or more the
# green threads of a burst of connecting clients pile up (held polling
# clients 46-47 KiB each, against 38 at 0.02); parking at once costs a
# busy polling load 12% of its throughput, 0.02 s about 3%.
PARK_AFTER = 0.02
# How long a closing WebSocket may take to flush its last frames.
CLOSE_TIMEOUT = 5.0


class _Detached:
    """Stands in for a socket that eventlet.wsgi no longer owns, so that its
    clean-up after the request leaves the connection open."""

    def shutdown(self, how):
        pass

    def close(self):
        pass


DETACHED = _Detached()


def _noop(*args):
    pass


class Headers(http.client.HTTPMessage):
    """Request headers read by :func:`parse_headers`'s fast path.

    ``get`` looks names up in an index instead of scanning every header
    (eventlet asks for five or so per request). The index is rebuilt when
    the header list is replaced (as deletions do) or changed in place by
    one of the methods below.
    """

    _index = _indexed = None

    def get(self, name, failobj=None):
        if self._indexed is not self._headers:
            index = {}
            for k, v in self._headers:
                index.setdefault(k.lower(), (k, v))
            self._index, self._indexed = index, self._headers
        hit = self._index.get(name.lower())
        return failobj if hit is None else self.policy.header_fetch_parse(*hit)

    def _changed(method):
        def changed(self, *args, **kwargs):
            self._indexed = None
            return method(self, *args, **kwargs)
        changed.__name__ = method.__name__
        return changed

    __setitem__ = _changed(http.client.HTTPMessage.__setitem__)
    set_raw = _changed(http.client.HTTPMessage.set_raw)
    add_header = _changed(http.client.HTTPMessage.add_header)
    replace_header = _changed(http.client.HTTPMessage.replace_header)
    del _changed


# A header line that starts with a field name (an RFC 9110 token) and a colon.
_FIELD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:")
_stdlib_parse_headers = http.client.parse_headers


def parse_headers(fp, _class=http.client.HTTPMessage):
    """``http.client.parse_headers``, faster for :class:`Headers`.

    For lines of the form ``name: value`` the result is what the e-mail
    parser makes of them (the value without its leading blanks and line
    end). Any other line (folded, malformed) sends the whole block to it.
    """
    if _class is not Headers:
        return _stdlib_parse_headers(fp, _class)
    lines = http.client._read_headers(fp)
    msg = Headers()
    add = http.client.HTTPMessage.set_raw  # the index is built on first use
    for line in lines:
        if line in (b"\r\n", b"\n", b""):
            break
        field = _FIELD.match(line)
        if field is None:
            return email.parser.Parser(_class=_class).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        end = field.end()
        add(msg, line[:end - 1].decode("iso-8859-1"),
            line[end:].decode("iso-8859-1").lstrip(" \t").rstrip("\r\n"))
    msg.set_payload("")
    return msg


class _Writer:
    """An HTTP connection's output, unbuffered: eventlet writes each response
    head and body with one ``writelines``, which becomes one ``sendall``.
    Saves the write buffer every waiting request (a pending poll) holds."""

    __slots__ = ("sock", "closed")

    def __init__(self, sock):
        self.sock, self.closed = sock, False

    def write(self, data):
        self.sock.sendall(data)
        return len(data)

    def writelines(self, lines):
        self.sock.sendall(b"".join(lines))

    def flush(self):
        pass

    def close(self):
        self.closed = True


class HttpProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP/1.1 protocol, able to give its connection away."""

    MessageClass = Headers
    # Request heads are short; a larger body is read straight through.
    rbufsize = 1024

    def setup(self):
        if not isinstance(self.request, greenio.GreenSocket):
            return super().setup()  # TLS
        conn = self.connection = self.request
        try:  # as eventlet does: acknowledge at once, not after a delay
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, True)
        except (AttributeError, OSError):
            pass
        self.rfile = conn.makefile("rb", self.rbufsize)
        self.wfile = _Writer(conn)

    def handle(self):
        # eventlet.wsgi.HttpProtocol.handle, parking the connection between
        # requests instead of waiting in a green thread for the next one.
        self.close_connection = True
        while True:
            self.handle_one_request()
            if self.conn_state[2] == eventlet.wsgi.STATE_CLOSE:
                self.close_connection = 1
            else:
                self.conn_state[2] = eventlet.wsgi.STATE_IDLE
            if self.close_connection or self._park():
                break

    def get_environ(self):
        env = super().get_environ()
        # Socket.IO keeps a copy of a connect request's environ for the
        # socket's lifetime: nothing in it may hold this protocol (and its
        # parsed request) alive. eventlet's own set_idle closes over it.
        env["eventlet.set_idle"] = functools.partial(_set_idle, self.conn_state)
        env[DETACH] = weakref.WeakMethod(self._detach)
        return env

    def _detach(self):
        """Take the connection out of eventlet.wsgi; returns its socket and
        what has been read past the request (a client's first frames)."""
        sock = self.connection
        sock.settimeout(0.0)
        try:
            early = self.rfile.peek()  # the buffer, or b"" (nothing more yet)
            self.rfile.read(len(early))
        except OSError:
            early = b""
        finally:
            sock.settimeout(self.server.socket_timeout)
        self.connection = self.conn_state[1] = DETACHED
        self.close_connection = 1
        return sock, early

    def _park(self):
        """Hand a keep-alive connection to the hub once it has been idle for
        PARK_AFTER seconds. A busy client's next request usually comes sooner
        and is served by this green thread, as usual."""
        sock = self.connection
        if not isinstance(sock, greenio.GreenSocket):
            return False
        sock.settimeout(PARK_AFTER)
        try:
            self.rfile.peek(1)
            return False  # the next request (or the end) has come
        except socket.timeout:
            pass  # idle; this buffer (now unusable) is empty
        except OSError:
            return False  # the next read reports it
        finally:
            sock.settimeout(self.server.socket_timeout)
        _Parked(self._detach()[0], self.conn_state, self.server)
        return True


class _Parked:
    """An idle keep-alive connection: a hub listener, no green thread."""

    __slots__ = ("sock", "conn_state", "server", "listener")

    def __init__(self, sock, conn_state, server):
        self.sock, self.conn_state, self.server = sock, conn_state, server
        self.listener = get_hub().add(get_hub().READ, sock.fileno(), self._wake,
                                      self._closed, _noop)

    def _wake(self, fileno):
        get_hub().remove(self.listener)
        self.conn_state[1] = self.sock
        self.conn_state[2] = eventlet.wsgi.STATE_IDLE
        eventlet.spawn_n(_serve, self.server, self.conn_state)

    def _closed(self, exc):
        get_hub().remove(self.listener)
        self.sock.close()


def _set_idle(conn_state):
    conn_state[2] = eventlet.wsgi.STATE_IDLE


def _serve(server, conn_state):
    try:
        server.process_request(conn_state)
    finally:
        sock = conn_state[1]
        if sock is not DETACHED:
            conn_state[2] = eventlet.wsgi.STATE_CLOSE
            greenio.shutdown_safe(sock)
            sock.close()


class WebSocketUpgrade:
    """Engine.IO's ``websocket`` factory: hands the upgraded connection to a
    :class:`WebSocket`. Falls back to Engine.IO's own eventlet WebSocket
    when the request did not come through :class:`HttpProtocol` (gunicorn)."""

    def __init__(self, handler, server):
        self.handler, self.server = handler, server

    def __call__(self, environ, start_response):
        detach = environ.get(DETACH)
        if detach is None:
            return eio_eventlet.WebSocketWSGI(self.handler, self.server)(
                environ, start_response)
        connection = {p.strip() for p in environ.get("HTTP_CONNECTION", "").lower().split(",")}
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except (binascii.Error, ValueError):
            valid_key = False
        if ("upgrade" not in connection
                or environ.get("HTTP_UPGRADE", "").lower() != "websocket"
                or environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or not valid_key):
            start_response("400 Bad Request", [("Content-Type", "text/plain"),
                                               ("Sec-WebSocket-Version", "13")])
            return [b"Bad WebSocket handshake"]
        sock = environ["eventlet.input"].get_socket()
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     + generate_accept_token(key.encode("ascii")) + b"\r\n\r\n")
        if "eventlet.set_idle" in environ:
            environ["eventlet.set_idle"]()
        WebSocket(*detach()(), self.handler.__self__)
        eventlet.wsgi.WSGI_LOCAL.already_handled = True
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
    server with ``eventlet.wsgi.server(..., protocol=HttpProtocol)``."""
    http.client.parse_headers = parse_headers  # called by http.server
    eio = socketio.server.eio
    eio._async = dict(eio._async, websocket=WebSocketUpgrade)
    EngineIOSocket.send = _socket_send
    EngineIOSocket.close = _socket_close
