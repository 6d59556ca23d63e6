"""Who is connected, shared by every process through Redis.

Keys, under ``prefix``:

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
import uuid

import redis

from . import events

log = logging.getLogger("chatapp")


class RedisPresence:
    def __init__(self, url, ttl=30, prefix="chat:presence"):
        self.redis = redis.Redis.from_url(url)
        self.ttl = max(float(ttl), 1.0)
        self.prefix = prefix
        self.proc = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._mine = {}  # member of p:<proc> -> (user id, sid), to re-register
        self._state = None
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

    # -- the LocalPresence interface ---------------------------------------
    def connect(self, user_id, sid):
        """Record a connection; true when it is the user's first anywhere."""
        mine = json.dumps([user_id, sid])
        self._mine[mine] = (user_id, sid)
        return self._add(user_id, sid, mine)

    def _add(self, user_id, sid, mine):
        key = self._user_key(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, json.dumps([self.proc, sid]))
        pipe.sadd(self._proc_key(self.proc), mine)
        pipe.scard(key)
        added, _, count = pipe.execute()
        return bool(added) and count == 1

    def disconnect(self, user_id, sid):
        """Forget a connection; true when it was the user's last anywhere."""
        mine = json.dumps([user_id, sid])
        self._mine.pop(mine, None)
        key = self._user_key(user_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(key, json.dumps([self.proc, sid]))
        pipe.srem(self._proc_key(self.proc), mine)
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
    def start(self, state):
        """Register this process and keep it alive; idempotent."""
        if self._running:
            return
        self._running = True
        self._state = state
        self._beat()
        state.socketio.start_background_task(self._loop)

    def stop(self):
        """Stop the heartbeat and remove what is left of this process."""
        self._running = False
        try:
            self._remove_proc(self.proc)
        except redis.RedisError:
            log.warning("presence: could not clean up %s", self.proc, exc_info=True)

    def _loop(self):
        interval = self.ttl / 3
        while self._running:
            self._state.socketio.sleep(interval)
            if not self._running:
                break
            try:
                self._beat()
                self.sweep()
            except redis.RedisError:
                # Keep beating: entries expire only if Redis stays away longer than ttl.
                log.warning("presence: Redis unavailable", exc_info=True)

    def _beat(self):
        """Push this process's expiry forward; re-register if it was swept."""
        if self.redis.zadd(self._procs_key, {self.proc: self._now() + self.ttl}):
            # New (or swept while stalled): our connections must be listed again.
            for mine, (user_id, sid) in list(self._mine.items()):
                if self._add(user_id, sid, mine) and self._state is not None:
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
        state = self._state
        with state.app.app_context():
            events.announce_presence(state, user_id, online)
