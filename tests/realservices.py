"""Fresh databases on the real SQL servers, and a private corner of real Redis.

Each helper is a context manager that creates a uniquely named database (or
Redis key prefix and channel) and removes it afterwards, so test runs never
see each other's data.
"""
import contextlib
import uuid

import psycopg
import pymysql
import redis

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
MYSQL_ADMIN = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "",
               "connect_timeout": 5}
REDIS_URL = "redis://127.0.0.1:6379/{db}"


def _name():
    return f"chat_test_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def postgres_database():
    """Yield a ``postgresql+psycopg://`` URL of a new, empty database."""
    name = _name()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def mariadb_database(charset="utf8mb4"):
    """Yield a ``mysql+pymysql://`` URL of a new, empty database.

    ``charset`` is the database's default; chat's table asks for utf8mb4 itself.
    """
    name = _name()
    conn = pymysql.connect(**MYSQL_ADMIN)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET {charset}")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@contextlib.contextmanager
def redis_corner(db=0):
    """Yield ``(url, channel)``: a queue channel and key prefix of our own.

    Redis pub/sub channels are shared by all databases, so a unique channel
    keeps concurrent runs apart; their keys share the channel as prefix.
    """
    url = REDIS_URL.format(db=db)
    channel = f"chat-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(url)
    try:
        yield url, channel
    finally:
        keys = list(client.scan_iter(match=f"{channel}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def queue_env(url, channel, ttl=None):
    """Environment for ``wsgi.py`` to use the queue (values parsed as JSON)."""
    env = {"FLASK_CHAT_MESSAGE_QUEUE": url, "FLASK_CHAT_QUEUE_CHANNEL": channel}
    if ttl is not None:
        env["FLASK_CHAT_PRESENCE_TTL"] = str(ttl)
    return env


class ChatClient:
    """A real python-socketio client on ``/chat`` that records what it receives."""

    EVENTS = ("message", "presence", "typing", "read", "notice", "message-edited",
              "message-deleted", "conversation", "conversation-removed")

    def __init__(self, server_url, session, transports=("websocket",)):
        import queue

        import socketio

        self.user = session.user
        self.received = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for event in self.EVENTS:
            self.sio.on(event, self._recorder(event), namespace="/chat")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.sio.connect(server_url, headers={"Cookie": cookie}, namespaces=["/chat"],
                         transports=list(transports), wait_timeout=10)

    def _recorder(self, event):
        def record(data):
            self.received.put((event, data))
        return record

    def call(self, event, data, timeout=10):
        return self.sio.call(event, data, namespace="/chat", timeout=timeout)

    def send(self, to, content, client_id=None, timeout=10):
        payload = {"to": to["id"] if isinstance(to, dict) else to, "content": content}
        if client_id:
            payload["client_id"] = client_id
        return self.call("chat-to", payload, timeout=timeout)

    def expect(self, event, match=lambda data: True, timeout=8.0):
        """The first ``event`` whose data matches, else fail; others are kept."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event!r} matching within {timeout}s; "
                                         f"got {skipped}")
                try:
                    name, data = self.received.get(timeout=left)
                except queue.Empty:
                    continue
                if name == event and match(data):
                    return data
                skipped.append((name, data))
        finally:
            for item in skipped:
                self.received.put(item)

    def drain(self, wait=0.0):
        """Everything received so far (after ``wait`` seconds), emptied."""
        import time

        time.sleep(wait)
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out

    def close(self):
        from helpers import close_client

        close_client(self.sio)
