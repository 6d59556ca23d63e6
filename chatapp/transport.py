"""How chat's sockets meet the host: its ``SocketIO``, the origin policy (for
sockets and for HTTP writes) and the WSGI middleware of the WebSocket handshake.
"""
from flask import request
from flask_socketio import SocketIO

from . import errors
from .i18n import _l


def make_socketio(app):
    """A ``SocketIO`` for a host that has none, with chat's origin policy."""
    def origin_ok(origin, environ):
        return origin_allowed(app.extensions["chat"], origin, environ)

    timing = {k: app.config[f"SOCKETIO_{k.upper()}"] for k in ("ping_interval", "ping_timeout")
              if app.config.get(f"SOCKETIO_{k.upper()}") is not None}
    # manage_session=False: chat reads the login session only at connect (the
    # request's own cookie session then) and never writes it from a socket, so
    # Flask-SocketIO need not keep a copy of it for every socket's life.
    return SocketIO(app, message_queue=app.config["CHAT_MESSAGE_QUEUE"],
                    cors_allowed_origins=origin_ok,
                    channel=app.config["CHAT_QUEUE_CHANNEL"],
                    async_mode=app.config.get("SOCKETIO_ASYNC_MODE"),
                    max_http_buffer_size=app.config["CHAT_SOCKET_MAX_BYTES"],
                    manage_session=False, **timing)


def serve_in_order(socketio):
    """One event at a time per connection, in order: a client flooding frames
    waits for its own acks (its socket stops being read) instead of queueing
    every other user's events behind its burst."""
    if socketio.server is not None:
        socketio.server.async_handlers = False


def origin_allowed(state, origin, environ):
    """Same origin, or one listed in ``CHAT_ALLOWED_ORIGINS``.

    The request's own scheme and host: forwarded headers count only through
    ``ProxyFix`` (``CHAT_PROXY_HOPS``), never from the client.
    """
    if not origin:
        return True  # not a browser's cross-site request
    if "*" in state.allowed_origins or origin in state.allowed_origins:
        return True
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST", "")
    return origin == f"{scheme}://{host}"


def check_same_origin(state):
    """Writes from another origin are refused unless it is allowed."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and not origin_allowed(
            state, request.headers.get("Origin"), request.environ):
        raise errors.forbidden(_l("Cross-origin request refused."))


def without_ws_compression(wsgi_app):
    """Wrap ``wsgi_app`` so WebSockets never negotiate per-message deflate.

    Chat frames are a few hundred bytes: compressing them costs more CPU than
    it saves, and keeps a zlib context per socket (as socket.io's own server,
    whose default is also off).
    """
    from .serving import _direct

    call = _direct(wsgi_app)  # Flask-SocketIO's middleware: no nested C frame

    def app(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return call(environ, start_response)
    return app
