"""Who is online: this process's connections, and every process's through Redis.

Both kinds answer the same questions (``is_online``, ``online_among``,
``sids``) and call ``on_change(user_id, online)`` when a user's first
connection opens or last one closes, so the socket layer never has to be
imported from here. ``make`` picks one from the settings.

Redis keys, under ``prefix``:

- ``u:<user>``: set of the user's live connections, as ``["<proc>", "<sid>"]``;
- ``p:<proc>``: set of one process's connections, as ``[<user id>, "<sid>"]``,
  so a dead process's entries can be found and removed;
- ``procs``: sorted set of live processes, scored by heartbeat expiry (Redis
  server time, so hosts need not agree on the clock).

Counts are read inside the same transaction as the change, so "first" and
"last" connection hold across processes. A process that dies without cleaning
up stops its heartbeat; the sweeper of any other process then removes its
entries and announces who went offline.
"""
import json
import logging
import os
import socket
import threading
import uuid

log = logging.getLogger("chatapp")


def make(config, on_change=None):
    """Redis presence when a message queue is set, else this process's own."""
    url = config["CHAT_MESSAGE_QUEUE"]
    if url:
        return RedisPresence(url, ttl=config["CHAT_PRESENCE_TTL"],
                             prefix=f"{config['CHAT_QUEUE_CHANNEL']}:presence",
                             on_change=on_change)
    return LocalPresence(on_change=on_change)


class Presence:
    """This process's chat connections (sid -> user id): the one registry of
    them; ``connect``/``disconnect`` keep it and tell ``on_change``."""

    def __init__(self, on_change=None):
        self.on_change = on_change
        self.local = {}  # sid -> user id, for this process's connections

    def user_of(self, sid):
        """The user of one of this process's connections, else ``None``."""
        return self.local.get(sid)

    def connect(self, user_id, sid):
        """Record a connection; true (and ``on_change``) when it is the user's first."""
        self.local[sid] = user_id
        first = self._add(user_id, sid)
        if first and self.on_change is not None:
            self.on_change(user_id, True)
        return first

    def disconnect(self, sid):
        """Forget a connection; return its user (``None`` if unknown), telling
        ``on_change`` when it was the user's last."""
        user_id = self.local.pop(sid, None)
        if user_id is not None and self._remove(user_id, sid) and self.on_change is not None:
            self.on_change(user_id, False)
        return user_id

    def start(self, socketio):
        """Start what keeps presence alive (idempotent)."""

    def stop(self):
        """Clean up what this process left behind."""


class LocalPresence(Presence):
    """Who is connected, for one process (no message queue)."""

    def __init__(self, on_change=None):
        super().__init__(on_change)
        self._by_user = {}  # user id -> its sids: an index of ``local``
        self._lock = threading.Lock()

    def _add(self, user_id, sid):
        with self._lock:
            sids = self._by_user.setdefault(user_id, set())
            sids.add(sid)
            return len(sids) == 1

    def _remove(self, user_id, sid):
        with self._lock:
            sids = self._by_user.get(user_id)
            if not sids or sid not in sids:
                return False
            sids.discard(sid)
            if not sids:
                del self._by_user[user_id]
                return True
            return False

    def is_online(self, user_id):
        return user_id in self._by_user

    def online_among(self, user_ids):
        return {u for u in user_ids if u in self._by_user}

    def sids(self, user_id):
        return list(self._by_user.get(user_id, ()))


class RedisPresence(Presence):
    """Who is connected on any process sharing one Redis."""

    def __init__(self, url, ttl=30, prefix="chat:presence", on_change=None):
        import redis  # the `redis` extra: only sites with a queue need it

        super().__init__(on_change)
        self._errors = redis.RedisError
        self.redis = redis.Redis.from_url(url)
        self.ttl = max(float(ttl), 1.0)
        self.prefix = prefix
        self.proc = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._socketio = None
        self._running = False

    # -- keys --------------------------------------------------------------
    def _user_key(self, user_id):
        return f"{self.prefix}:u:{json.dumps(user_id)}"

    def _proc_key(self, proc):
        return f"{self.prefix}:p:{proc}"

    @property
    def _procs_key(self):
        return f"{self.prefix}:procs"

    def _now(self):
        sec, usec = self.redis.time()
        return sec + usec / 1e6

    # -- first and last connection, anywhere ---------------------------------
    def _add(self, user_id, sid):
        key = self._user_key(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, json.dumps([self.proc, sid]))
        pipe.sadd(self._proc_key(self.proc), json.dumps([user_id, sid]))
        pipe.scard(key)
        added, _, count = pipe.execute()
        return bool(added) and count == 1

    def _remove(self, user_id, sid):
        key = self._user_key(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(key, json.dumps([self.proc, sid]))
        pipe.srem(self._proc_key(self.proc), json.dumps([user_id, sid]))
        pipe.scard(key)
        removed, _, count = pipe.execute()
        return bool(removed) and count == 0

    def is_online(self, user_id):
        return self.redis.scard(self._user_key(user_id)) > 0

    def online_among(self, user_ids):
        user_ids = list(dict.fromkeys(user_ids))
        pipe = self.redis.pipeline(transaction=False)
        for u in user_ids:
            pipe.scard(self._user_key(u))
        return {u for u, n in zip(user_ids, pipe.execute()) if n}

    def sids(self, user_id):
        """Every live connection of the user, on every process."""
        return [json.loads(m)[1] for m in self.redis.smembers(self._user_key(user_id))]

    # -- heartbeat and sweeper ---------------------------------------------
    def start(self, socketio):
        """Register this process and keep it alive; idempotent."""
        if self._running:
            return
        self._running = True
        self._socketio = socketio
        self._beat()
        socketio.start_background_task(self._loop)

    def stop(self):
        """Stop the heartbeat and remove what is left of this process."""
        self._running = False
        try:
            self._remove_proc(self.proc)
        except self._errors:
            log.warning("presence: could not clean up %s", self.proc, exc_info=True)

    def _loop(self):
        interval = self.ttl / 3
        while self._running:
            self._socketio.sleep(interval)
            if not self._running:
                break
            try:
                self._beat()
                self.sweep()
            except self._errors:
                # Keep beating: entries expire only if Redis stays away longer than ttl.
                log.warning("presence: Redis unavailable", exc_info=True)

    def _beat(self):
        """Push this process's expiry forward; re-register if it was swept."""
        if self.redis.zadd(self._procs_key, {self.proc: self._now() + self.ttl}):
            # New (or swept while stalled): our connections must be listed again.
            for sid, user_id in list(self.local.items()):
                if self._add(user_id, sid):
                    self._announce(user_id, True)

    def sweep(self):
        """Remove the entries of processes whose heartbeat expired."""
        dead = self.redis.zrangebyscore(self._procs_key, "-inf", self._now())
        for proc in dead:
            proc = proc.decode()
            # Only the sweeper whose ZREM succeeds heals it, so no one announces twice.
            if proc != self.proc and self.redis.zrem(self._procs_key, proc):
                log.info("presence: process %s expired, removing its connections", proc)
                for user_id in self._remove_proc(proc):
                    self._announce(user_id, False)

    def _remove_proc(self, proc):
        """Drop a process's connections; return users left with none."""
        members = self.redis.smembers(self._proc_key(proc))
        gone = []
        for raw in members:
            user_id, sid = json.loads(raw)
            key = self._user_key(user_id)
            pipe = self.redis.pipeline(transaction=True)
            pipe.srem(key, json.dumps([proc, sid]))
            pipe.scard(key)
            removed, count = pipe.execute()
            if removed and count == 0:
                gone.append(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self._proc_key(proc))
        pipe.zrem(self._procs_key, proc)
        pipe.execute()
        return list(dict.fromkeys(gone))

    def _announce(self, user_id, online):
        if self.on_change is not None:
            self.on_change(user_id, online)
