"""The send rate limit: ``CHAT_RATE_LIMIT`` sends per user in any 10 seconds.

A moving window from the ``limits`` library. One process keeps its counts in
memory; with ``CHAT_MESSAGE_QUEUE`` the counts live in that Redis, so a user's
budget is the same whichever process their sockets reach.
"""
from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

#: Seconds of the window.
WINDOW = 10


class RateLimit:
    """``allow(user_id)`` spends one send of the user's budget, false when spent.

    ``limit`` 0 (or ``None``) turns the limit off.
    """

    def __init__(self, limit, queue_url=None, prefix="chat", window=WINDOW):
        self.limit = limit or 0
        self._item = self._limiter = None
        if not self.limit:
            return
        if queue_url:
            from limits.storage import RedisStorage

            storage = RedisStorage(queue_url, key_prefix=f"{prefix}:ratelimit")
        else:
            from limits.storage import MemoryStorage

            storage = MemoryStorage()
        self._item = RateLimitItemPerSecond(self.limit, window, namespace="send")
        self._limiter = MovingWindowRateLimiter(storage)

    def allow(self, user_id):
        if not self.limit:
            return True
        return self._limiter.hit(self._item, str(user_id))


def make(config):
    return RateLimit(config["CHAT_RATE_LIMIT"], config["CHAT_MESSAGE_QUEUE"],
                     prefix=config["CHAT_QUEUE_CHANNEL"])
