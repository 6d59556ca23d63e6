"""The per-user rate limiter and the one-process presence registry."""
from chatapp.realtime import LocalPresence, RateLimiter


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_limit_per_user_and_window():
    clock = Clock()
    limiter = RateLimiter(3, window=10, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another user has a budget of their own
    clock.now += 10
    assert limiter.allow("a")


def test_rate_limit_zero_is_off():
    limiter = RateLimiter(0)
    assert all(limiter.allow(1) for _ in range(1000))


def test_rate_limiter_forgets_users_whose_window_passed():
    clock = Clock()
    limiter = RateLimiter(1, window=10, clock=clock)
    for user in range(10_001):
        limiter.allow(user)
    clock.now += 11
    assert limiter.allow("late")
    assert len(limiter._hits) == 1
    assert not limiter.allow("late")


def test_presence_first_and_last_connection():
    presence = LocalPresence()
    assert presence.connect(7, "s1") is True
    assert presence.connect(7, "s2") is False
    assert presence.online_among([7, 8]) == {7}
    assert sorted(presence.sids(7)) == ["s1", "s2"]
    assert presence.disconnect(7, "s1") is False
    assert presence.disconnect(7, "unknown") is False
    assert presence.disconnect(7, "s2") is True
    assert not presence.is_online(7)
