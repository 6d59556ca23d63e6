"""Standalone accounts: JSON endpoints, HTML forms with CSRF, logout, deletion."""
import re

import pytest

from helpers import PASSWORD


def register(client, name, password=PASSWORD):
    return client.post("/auth/register", json={"username": name, "password": password})


def csrf_token(client, path):
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_register_logs_in(client):
    r = register(client, "alice")
    assert r.status_code == 201
    user = r.json["user"]
    assert user["username"] == "alice"
    assert isinstance(user["id"], int)
    assert user["avatar"] == f"/chat/avatar/{user['id']}.svg"
    assert client.get("/chat/api/me").json == {"user": user, "locale": "en"}


def test_register_name_taken_regardless_of_case(client, app):
    assert register(client, "Alice").status_code == 201
    r = register(app.test_client(), "aLICE")
    assert r.status_code == 409
    assert r.json["error"]["code"] == "taken"
    assert r.json["error"]["message"]


@pytest.mark.parametrize("name, password", [
    ("", PASSWORD),
    ("x" * 33, PASSWORD),
    ("bad name", PASSWORD),
    ("<b>", PASSWORD),
    (None, PASSWORD),
    (42, PASSWORD),
    ("bob", "short"),
    ("bob", "x" * 257),
    ("bob", None),
    ("bob", 12345678),
    ("bob", "password\ud800"),
])
def test_register_invalid(client, name, password):
    r = register(client, name, password)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"
    assert r.json["error"]["message"]
    assert client.get("/chat/api/me").status_code == 401


@pytest.mark.parametrize("name, password", [
    ("x" * 32, PASSWORD), ("a.b-c_9", "x" * 8), ("b", "x" * 256)])
def test_register_edges_accepted(client, name, password):
    assert register(client, name, password).status_code == 201


def test_register_body_not_an_object(client):
    r = client.post("/auth/register", json=["alice", PASSWORD])
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"


def test_login_and_logout(client, app):
    register(app.test_client(), "alice")
    r = client.post("/auth/login", json={"username": "ALICE", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json["user"]["username"] == "alice"
    assert client.get("/chat/api/me").status_code == 200
    r = client.post("/auth/logout")
    assert r.status_code == 204
    assert client.get("/chat/api/me").status_code == 401


@pytest.mark.parametrize("body", [
    {"username": "alice", "password": "wrong-password"},
    {"username": "nobody", "password": PASSWORD},
    {"username": "alice"},
    {"username": ["alice"], "password": PASSWORD},
    {"username": "alice", "password": PASSWORD + "\udfff"},
    {},
])
def test_login_refused(client, app, body):
    register(app.test_client(), "alice")
    r = client.post("/auth/login", json=body)
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized"
    assert r.json["error"]["message"]
    assert client.get("/chat/api/me").status_code == 401


@pytest.mark.parametrize("method, path", [
    ("post", "/auth/register"), ("post", "/auth/login"),
    ("post", "/auth/logout"), ("delete", "/auth/account")])
def test_non_json_body_is_415_and_changes_nothing(auth, method, path):
    client = auth.register("alice")
    body = "username=zed&password=password123"
    r = getattr(client, method)(path, data=body, content_type="text/plain")
    assert r.status_code == 415
    assert r.json["error"]["code"] == "unsupported"
    assert r.json["error"]["message"]
    assert client.get("/chat/api/me").status_code == 200  # still logged in
    r = client.post("/auth/login", json={"username": "zed", "password": PASSWORD})
    assert r.status_code == 401  # nobody was registered


def test_json_with_charset_accepted(client):
    r = client.post("/auth/register", data='{"username": "alice", "password": "password123"}',
                    content_type="application/json; charset=utf-8")
    assert r.status_code == 201


def test_empty_body_never_415(auth):
    client = auth.register("alice")
    r = client.post("/auth/logout", data=b"", content_type="text/plain")
    assert r.status_code == 204
    r = client.post("/auth/login", data=b"", content_type="text/plain")
    assert r.status_code == 401


def test_malformed_json_is_invalid(client):
    r = client.post("/auth/register", data="{nope", content_type="application/json")
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"


def test_cross_origin_json_write_refused(client):
    r = client.post("/auth/register", json={"username": "alice", "password": PASSWORD},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert r.json["error"]["code"] == "forbidden"
    r = client.post("/auth/register", json={"username": "alice", "password": PASSWORD},
                    headers={"Origin": "http://localhost"})
    assert r.status_code == 201


# -- HTML forms ----------------------------------------------------------

def test_pages_render(client):
    for path in ("/login", "/register"):
        r = client.get(path)
        assert r.status_code == 200
        assert 'name="csrf_token"' in r.get_data(as_text=True)
    r = client.get("/")
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/login")


@pytest.mark.parametrize("path", ["/register", "/login"])
def test_form_without_csrf_token_refused(client, app, path):
    if path == "/login":
        register(app.test_client(), "alice")
    r = client.post(path, data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 400
    assert "This form has expired or did not come from this site" in r.get_data(as_text=True)
    assert client.get("/chat/api/me").status_code == 401


def test_register_form_with_token(client):
    token = csrf_token(client, "/register")
    r = client.post("/register", data={"username": "alice", "password": PASSWORD,
                                       "csrf_token": token})
    assert r.status_code == 302
    assert r.headers["Location"] == "/"
    assert client.get("/chat/api/me").json["user"]["username"] == "alice"
    page = client.get("/")
    assert page.status_code == 200
    assert 'id="chat-widget"' in page.get_data(as_text=True)


def test_register_form_shows_errors(client, app):
    register(app.test_client(), "alice")
    token = csrf_token(client, "/register")
    r = client.post("/register", data={"username": "ALICE", "password": PASSWORD,
                                       "csrf_token": token})
    assert r.status_code == 200
    assert "taken" in r.get_data(as_text=True)
    assert client.get("/chat/api/me").status_code == 401


def test_login_form_with_token(client, app):
    register(app.test_client(), "alice")
    token = csrf_token(client, "/login")
    r = client.post("/login", data={"username": "alice", "password": "wrong-password",
                                    "csrf_token": token})
    assert r.status_code == 200
    assert "Wrong name or password" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 302
    assert client.get("/chat/api/me").status_code == 200


def test_logout_form_needs_token(auth):
    client = auth.register("alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/chat/api/me").status_code == 200
    token = csrf_token(client, "/login")  # the session's token, valid on every form
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302
    assert client.get("/chat/api/me").status_code == 401


# -- sockets follow the session -------------------------------------------

def test_logout_disconnects_only_that_users_sockets(auth):
    alice, bob = auth.register("alice"), auth.register("bob")
    tabs = [auth.socket(alice), auth.socket(alice)]
    bob_tab = auth.socket(bob)
    assert alice.post("/auth/logout").status_code == 204
    assert not any(t.is_connected("/chat") for t in tabs)
    assert bob_tab.is_connected("/chat")
    ack = bob_tab.emit("chat-to", {"to": alice.user["id"], "content": "still here?"},
                       namespace="/chat", callback=True)
    assert ack["ok"] and ack["delivered"] is False


def test_delete_account(auth, app):
    alice, bob = auth.register("alice"), auth.register("bob")
    tab = auth.socket(alice)
    bob_tab = auth.socket(bob)
    ack = tab.emit("chat-to", {"to": bob.user["id"], "content": "bye"},
                   namespace="/chat", callback=True)
    assert ack["ok"]
    carol = auth.register("carol")
    gid = alice.post("/chat/api/groups", json={"title": "G", "members": [
        bob.user["id"], carol.user["id"]]}).json["conversation"]["id"]
    assert alice.put(f"/chat/api/blocks/{carol.user['id']}").status_code == 204
    r = alice.delete("/auth/account")
    assert r.status_code == 204
    group = bob.get(f"/chat/api/groups/{gid}").json["conversation"]
    assert group["owner"] == bob.user["id"]  # the group goes on without her
    assert [m["id"] for m in group["members"]] == [bob.user["id"], carol.user["id"]]
    assert not tab.is_connected("/chat")
    assert alice.get("/chat/api/me").status_code == 401
    assert bob.get("/chat/api/conversations").json == {"conversations": []}
    assert [c["kind"] for c in bob.get("/chat/api/conversations?limit=9").json[
        "conversations"]] == ["group"]
    r = bob.get(f"/chat/api/conversations/{alice.user['id']}/messages")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "unknown_user"
    ack = bob_tab.emit("chat-to", {"to": alice.user["id"], "content": "hello?"},
                       namespace="/chat", callback=True)
    assert ack["error"]["code"] == "unknown_user"
    r = app.test_client().post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401
    assert register(app.test_client(), "alice").status_code == 201  # the name is free again


def test_delete_account_needs_login(client):
    r = client.delete("/auth/account")
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized"
