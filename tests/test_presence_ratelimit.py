"""The per-user rate limit and the one-process presence registry."""
import time

from chatapp.presence import LocalPresence
from chatapp.ratelimit import RateLimit


def test_rate_limit_per_user_and_window():
    limiter = RateLimit(3, window=1)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another user has a budget of their own
    time.sleep(1.1)
    assert limiter.allow("a")


def test_rate_limit_zero_is_off():
    limiter = RateLimit(0)
    assert all(limiter.allow(1) for _ in range(1000))


def test_rate_limit_window_moves():
    """N sends in any window, not per fixed slot: a burst at the end of one
    second and another at the start of the next do not double the budget."""
    limiter = RateLimit(2, window=1)
    assert limiter.allow("a")
    time.sleep(0.6)
    assert limiter.allow("a")
    time.sleep(0.5)  # the first send left the window; the second has not
    assert limiter.allow("a")
    assert not limiter.allow("a")


def test_presence_first_and_last_connection():
    changes = []
    presence = LocalPresence(on_change=lambda user, online: changes.append((user, online)))
    assert presence.connect(7, "s1") is True
    assert presence.connect(7, "s2") is False
    assert presence.online_among([7, 8]) == {7}
    assert sorted(presence.sids(7)) == ["s1", "s2"]
    assert presence.user_of("s1") == 7
    assert presence.disconnect("s1") == 7
    assert presence.disconnect("unknown") is None
    assert changes == [(7, True)]
    assert presence.disconnect("s2") == 7
    assert not presence.is_online(7)
    assert presence.user_of("s2") is None
    assert changes == [(7, True), (7, False)]
