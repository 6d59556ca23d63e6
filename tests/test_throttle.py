"""Login and registration throttling: guessers slow down, owners get in."""
import uuid

import pytest
import requests

from helpers import PASSWORD, LiveServer, running
from realservices import queue_env, redis_corner


@pytest.fixture
def throttled_app(app):
    from chatapp.standalone import throttle
    app.config.update(CHAT_LOGIN_LIMIT_ADDRESS="30 per 5 minutes",
                      CHAT_LOGIN_LIMIT_ACCOUNT="10 per 5 minutes",
                      CHAT_REGISTER_LIMIT="5 per hour")
    app.extensions["login_throttle"] = throttle.make(app.config)
    return app


def attempt(app, password, address, name="alice"):
    return app.test_client().post("/auth/login", json={"username": name, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def test_wrong_passwords_from_one_address_are_throttled(throttled_app, auth):
    app = throttled_app
    auth.register("alice")
    # Guessing across accounts (each under its own limit) from one address.
    codes = [attempt(app, "wrong-password", "198.51.100.7", name=f"user{i % 4}").status_code
             for i in range(40)]
    assert codes[:30] == [401] * 30 and codes[30:] == [429] * 10
    r = attempt(app, PASSWORD, "198.51.100.7")
    assert r.status_code == 429
    assert r.json["error"]["code"] == "rate_limited"
    assert r.json["error"]["message"].startswith("Too many attempts")
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    assert attempt(app, PASSWORD, "198.51.100.8").status_code == 200


def test_guesses_from_many_addresses_stop_at_the_account_limit(throttled_app, auth):
    app = throttled_app
    auth.register("alice")
    assert attempt(app, PASSWORD, "192.0.2.1").status_code == 200  # the owner's address
    auth.register("bob")  # registered (and so logged in) from the test client's address
    codes = [attempt(app, "wrong-password", f"10.0.{i // 250}.{i % 250}").status_code
             for i in range(100)]
    assert codes.count(401) == 10 and codes[10:] == [429] * 90
    # Right password from a new address: held back like any guess.
    assert attempt(app, PASSWORD, "203.0.113.50").status_code == 429
    # The owner, from where they logged in before, is not locked out.
    assert attempt(app, PASSWORD, "192.0.2.1").status_code == 200
    # Other accounts are not affected.
    assert attempt(app, PASSWORD, "203.0.113.50", name="bob").status_code == 200


def test_password_change_guesses_count_like_logins(throttled_app, auth):
    alice = auth.register("alice")
    codes = [alice.post("/auth/password", json={"password": f"wrong-{i}",
                                                "new_password": "a new password"},
                        environ_base={"REMOTE_ADDR": "198.51.100.30"}).status_code
             for i in range(12)]
    assert codes == [403] * 10 + [429] * 2
    r = alice.post("/auth/password", json={"password": PASSWORD, "new_password": "a new password"},
                   environ_base={"REMOTE_ADDR": "198.51.100.30"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_login_form_is_throttled(throttled_app, auth):
    from test_auth import csrf_token
    app = throttled_app
    auth.register("alice")
    client = app.test_client()
    token = csrf_token(client, "/login")
    for i in range(31):
        r = client.post("/login", data={"csrf_token": token, "username": "alice",
                                        "password": f"wrong-{i}"},
                        environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "Too many attempts" in r.get_data(as_text=True)


def test_registration_is_throttled_per_address(throttled_app):
    client = throttled_app.test_client()

    def register(i, address):
        return client.post("/auth/register", json={"username": f"user{i}", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": address})

    codes = [register(i, "198.51.100.20").status_code for i in range(8)]
    assert codes == [201] * 5 + [429] * 3
    assert register(99, "198.51.100.21").status_code == 201


# -- real servers --------------------------------------------------------------

def guess(server, name, n, forwarded=None):
    """``n`` wrong passwords for ``name``; the status codes."""
    codes = []
    with requests.Session() as s:
        for i in range(n):
            headers = {"X-Forwarded-For": forwarded(i)} if forwarded else {}
            r = s.post(server.url + "/auth/login",
                       json={"username": name, "password": f"wrong-{i}"}, headers=headers)
            codes.append(r.status_code)
    return codes


@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory):
    """Two processes, one database file, one Redis: counts are shared."""
    with redis_corner() as (url, channel):
        tmp = tmp_path_factory.mktemp("throttle")
        db_uri = f"sqlite:///{tmp / 'shared.sqlite'}"
        with running(LiveServer(tmp, env=queue_env(url, channel), db_uri=db_uri)
                     for _ in range(2)) as servers:
            yield servers


@pytest.mark.server
def test_a_thousand_guesses_with_forged_forwarded_headers_on_two_processes(redis_pair):
    s1, s2 = redis_pair
    name = f"u{uuid.uuid4().hex[:8]}"
    s1.register(name)
    forged = lambda i: f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"  # noqa: E731
    codes = guess(s1, name, 500, forged) + guess(s2, name, 500, forged)
    # CHAT_PROXY_HOPS is 0: every guess counts against the one real address
    # (where the account was registered, so its own limit does not apply),
    # and the two processes share the count through Redis: 30 failures in all.
    assert codes.count(401) == 30 and codes[30:] == [429] * 970
    # The address is stopped for every account, on both processes.
    assert guess(s1, "x" + name, 5, forged) == [429] * 5
    assert guess(s2, "y" + name, 5, forged) == [429] * 5


@pytest.mark.server
def test_a_thousand_guesses_from_many_addresses_behind_a_proxy(tmp_path):
    server = LiveServer(tmp_path, env={"FLASK_CHAT_PROXY_HOPS": "1"}).start()
    try:
        name = f"u{uuid.uuid4().hex[:8]}"
        owner = requests.Session()
        r = owner.post(server.url + "/auth/register",
                       json={"username": name, "password": PASSWORD},
                       headers={"X-Forwarded-For": "192.0.2.80"})
        assert r.status_code == 201
        r = owner.post(server.url + "/auth/login", json={"username": name, "password": PASSWORD},
                       headers={"X-Forwarded-For": "192.0.2.80"})
        assert r.status_code == 200
        codes = guess(server, name, 1000,
                      lambda i: f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
        assert codes.count(401) == 10 and codes.count(429) == 990
        r = requests.post(server.url + "/auth/login", json={"username": name, "password": PASSWORD},
                          headers={"X-Forwarded-For": "192.0.2.80"})
        assert r.status_code == 200  # the owner's address
        r = requests.post(server.url + "/auth/login", json={"username": name, "password": PASSWORD},
                          headers={"X-Forwarded-For": "203.0.113.1"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    finally:
        server.stop()
