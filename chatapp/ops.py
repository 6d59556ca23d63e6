"""Operations: start-up checks, health probes, graceful drain.

Nothing here is eventlet-specific: waiting goes through ``socketio.sleep``, so
the same code serves ``flask run`` (threads) and the eventlet server.
"""
import logging
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

log = logging.getLogger("chatapp")


def check_at_start(app):
    """Prove the message queue works before serving anyone."""
    url = app.config["CHAT_MESSAGE_QUEUE"]
    if url:
        check_queue(url)
        log.info("message queue %s answers", safe_url(url))


def health(state):
    """``(ok, checks)``: the database and the message queue answer."""
    checks = {"database": _probe(lambda: _ping_database(state))}
    url = state.app.config["CHAT_MESSAGE_QUEUE"]
    if url:
        checks["queue"] = _probe(lambda: _ping_queue(url))
    return all(c["ok"] for c in checks.values()), checks


def _probe(check):
    started = time.monotonic()
    try:
        check()
    except Exception as exc:  # any failure means "not healthy", never a 500
        log.warning("healthz: %s", exc.__class__.__name__)
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def _ping_database(state):
    with state.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _ping_queue(url):
    import redis  # the `redis` extra: only sites with a queue need it

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def safe_url(url):
    """The URL without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def check_queue(url, timeout=5.0):
    """Publish one message and receive it back, or raise naming the queue."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError(f"CHAT_MESSAGE_QUEUE={safe_url(url)!r}: chat needs Redis "
                           "(redis://host:6379/0) for its queue and shared presence.")
    try:
        import redis
    except ImportError:
        raise RuntimeError("CHAT_MESSAGE_QUEUE needs the Redis client: "
                           "pip install 'chatapp[redis]'.") from None
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    channel = f"chat:check:{uuid.uuid4().hex}"
    try:
        with client.pubsub(ignore_subscribe_messages=True) as sub:
            sub.subscribe(channel)
            client.publish(channel, b"ping")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = sub.get_message(timeout=0.5)
                if msg and msg["data"] == b"ping":
                    return
        raise RuntimeError("no message came back")
    except (redis.RedisError, OSError, RuntimeError) as exc:
        raise RuntimeError(
            f"Chat's message queue {safe_url(url)} is not working ({exc}). Start "
            "Redis there, or fix CHAT_MESSAGE_QUEUE (unset it to run one process)."
        ) from None
    finally:
        client.close()


def drain(app, grace=1.0):
    """Stop chat gently: events in flight get their acks, then every socket closes.

    Clients reconnect (to another process behind the proxy) and resend unacked
    messages with the same ``client_id``; the store answers with the row it
    already committed, so nothing acknowledged is lost and nothing doubles.
    """
    state = app.extensions["chat"]
    sio = state.socketio
    log.info("shutting down: %d chat connections to close", len(state.presence.local))
    sio.sleep(grace)
    eio = sio.server.eio
    for sock in list(eio.sockets.values()):
        # Queue the close packet without waiting: a polling client that never
        # comes back for it must not hold the shutdown.
        sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
    sio.sleep(0.5)  # let websockets flush and polling clients collect the close
    state.presence.stop()  # whatever the disconnect handlers left behind
    log.info("chat drained")
