"""Login and registration throttling for the standalone site (``limits``).

Failed logins are counted per client address and per account name; either
limit spent answers 429 ``rate_limited`` with ``Retry-After`` before the
password is checked. An address that has logged in to the account before is
not held back by the account's limit: a guesser elsewhere slows down, the
owner does not get locked out. Registrations are counted per address.

Counts live in memory for one process, in the queue's Redis with
``CHAT_MESSAGE_QUEUE`` (shared by every process).
"""
import math
import time

from limits import parse
from limits.strategies import MovingWindowRateLimiter

from ..i18n import _l
from ..ratelimit import make_storage
from . import names

#: How long an address is remembered as one the account logged in from.
KNOWN_FOR = 90 * 24 * 3600


class Throttled(Exception):
    """Too many attempts; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, retry_after, message):
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


class LoginThrottle:
    def __init__(self, storage, per_address, per_account, registrations):
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.per_address = parse(per_address) if per_address else None
        self.per_account = parse(per_account) if per_account else None
        self.registrations = parse(registrations) if registrations else None

    # -- logins ------------------------------------------------------------
    def check_login(self, name, address):
        """Raise ``Throttled`` if this attempt must wait; call before checking
        the password."""
        if self.per_address and not self.limiter.test(self.per_address, "login-addr", address):
            self._refuse(self.per_address, "login-addr", address)
        account = _account(name)
        if self.per_account and not self.limiter.test(self.per_account, "login-acct", account) \
                and not self.known(account, address):
            self._refuse(self.per_account, "login-acct", account)

    def failed(self, name, address):
        if self.per_address:
            self.limiter.hit(self.per_address, "login-addr", address)
        if self.per_account:
            self.limiter.hit(self.per_account, "login-acct", _account(name))

    def succeeded(self, name, address):
        self.storage.incr(_known_key(_account(name), address), KNOWN_FOR)

    def known(self, account, address):
        return self.storage.get(_known_key(account, address)) > 0

    # -- registrations -----------------------------------------------------
    def register(self, address):
        """Count one registration attempt; raise ``Throttled`` past the limit."""
        if self.registrations and not self.limiter.hit(self.registrations, "register", address):
            self._refuse(self.registrations, "register", address)

    def _refuse(self, item, *key):
        reset = self.limiter.get_window_stats(item, *key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise Throttled(wait, _l("Too many attempts; try again in %(seconds)s seconds.", seconds=wait))


def _account(name):
    """The account an attempt aims at: the name's uniqueness key (any case, any script)."""
    cleaned = names.clean(name)
    return names.key(cleaned) if cleaned is not None else ""


def _known_key(account, address):
    return f"login-known/{account}/{address}"


def make(config):
    """The throttle of an app, from its settings."""
    storage = make_storage(config["CHAT_MESSAGE_QUEUE"], f"{config['CHAT_QUEUE_CHANNEL']}:throttle")
    return LoginThrottle(storage, config["CHAT_LOGIN_LIMIT_ADDRESS"],
                         config["CHAT_LOGIN_LIMIT_ACCOUNT"], config["CHAT_REGISTER_LIMIT"])
