"""Delivery only: push events to users' rooms and track who is connected.

Every connection joins the room of its user, so pushing to a user reaches all
of that user's tabs and devices, on every process when a message queue is set.
"""
import threading


def room(user_id):
    return f"user:{user_id}"


def without_ws_compression(wsgi_app):
    """Wrap ``wsgi_app`` so WebSockets never negotiate per-message deflate.

    Chat frames are a few hundred bytes: compressing them costs more CPU than
    it saves, and keeps a zlib context per socket (as socket.io's own server,
    whose default is also off).
    """
    def app(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return wsgi_app(environ, start_response)
    app.wrapped = wsgi_app
    return app


def push(state, user_ids, event, data, skip_sid=None):
    """Emit ``event`` to every connection of each user in ``user_ids``."""
    rooms = [room(u) for u in dict.fromkeys(user_ids)]
    if not rooms:
        return
    state.socketio.emit(event, data, to=rooms if len(rooms) > 1 else rooms[0],
                        namespace=state.namespace, skip_sid=skip_sid)


class LocalPresence:
    """Who is connected, for one process (no message queue)."""

    def __init__(self):
        self._sids = {}
        self._lock = threading.Lock()

    def connect(self, user_id, sid):
        """Record a connection; true when it is the user's first."""
        with self._lock:
            sids = self._sids.setdefault(user_id, set())
            sids.add(sid)
            return len(sids) == 1

    def disconnect(self, user_id, sid):
        """Forget a connection; true when it was the user's last."""
        with self._lock:
            sids = self._sids.get(user_id)
            if not sids or sid not in sids:
                return False
            sids.discard(sid)
            if not sids:
                del self._sids[user_id]
                return True
            return False

    def is_online(self, user_id):
        return user_id in self._sids

    def online_among(self, user_ids):
        return {u for u in user_ids if u in self._sids}

    def sids(self, user_id):
        return list(self._sids.get(user_id, ()))

    def start(self, state):
        """Nothing to keep alive in one process."""

    def stop(self):
        """Nothing to clean up in one process."""


class RateLimiter:
    """At most ``limit`` events per user in any ``window`` seconds."""

    def __init__(self, limit, window=10.0, clock=None):
        import time

        self.limit = limit
        self.window = window
        self._clock = clock or time.monotonic
        self._hits = {}

    def allow(self, user_id):
        if not self.limit:
            return True
        now = self._clock()
        if len(self._hits) > 10_000:  # forget users whose window has passed
            self._hits = {u: h for u, h in self._hits.items() if now - h[0] < self.window}
        # A fixed window per user, cheap and good enough against a flood.
        start, count = self._hits.get(user_id, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if count >= self.limit:
            self._hits[user_id] = (start, count)
            return False
        self._hits[user_id] = (start, count + 1)
        return True


def disconnect_user(state, user_id):
    """Close every chat socket of a user (on every process with a queue)."""
    for sid in state.presence.sids(user_id):
        state.socketio.server.disconnect(sid, namespace=state.namespace)
