"""Socket acks in the language of the request that opened the socket, codes unchanged."""
import pytest

PASSWORD = "password123"


def user(app, headers=None, cookie=None):
    client = app.test_client()
    if cookie:
        client.set_cookie("chat_lang", cookie)
    name = f"u{len(app.config.setdefault('_made', []))}"
    app.config["_made"].append(name)
    r = client.post("/auth/register", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201
    client.user = r.json["user"]
    sio = app.extensions["socketio"]
    sc = sio.test_client(app, namespace="/chat", flask_test_client=client, headers=headers or {})
    assert sc.is_connected("/chat")
    return client, sc


def ack(sc, event, data):
    return sc.emit(event, data, namespace="/chat", callback=True)


@pytest.mark.parametrize("headers, cookie, empty, unknown, missing", [
    ({}, None, "The message is empty.", "Unknown event 'nope'.", "No user with id {id}."),
    ({"Accept-Language": "zh-CN"}, None, "消息是空的。", "未知事件 'nope'。", "没有 id 为 {id} 的用户。"),
    ({"Accept-Language": "en"}, "zh-Hans", "消息是空的。", "未知事件 'nope'。", "没有 id 为 {id} 的用户。"),
])
def test_acks_in_the_sockets_language(app, headers, cookie, empty, unknown, missing):
    bob, _ = user(app)
    alice, sc = user(app, headers, cookie)
    r = ack(sc, "chat-to", {"to": bob.user["id"], "content": "   "})
    assert r == {"ok": False, "error": {"code": "empty", "message": empty}}
    r = ack(sc, "nope", {})
    assert r == {"ok": False, "error": {"code": "unsupported", "message": unknown}}
    r = ack(sc, "chat-to", {"to": 10**9, "content": "hi"})
    assert r["ok"] is False and r["error"]["code"] == "unknown_user"
    assert r["error"]["message"] == missing.format(id=10**9)
    r = ack(sc, "chat-to", {"to": bob.user["id"], "content": "x" * 2001})
    assert r["error"]["code"] == "too_long"
    assert "2000" in r["error"]["message"]


def test_two_sockets_two_languages(app):
    bob, _ = user(app)
    _, zh = user(app, {"Accept-Language": "zh-Hans"})
    _, en = user(app, {"Accept-Language": "en-US"})
    assert ack(zh, "chat-to", {"to": bob.user["id"], "content": ""})["error"]["message"] == "消息是空的。"
    assert ack(en, "chat-to", {"to": bob.user["id"], "content": ""})["error"]["message"] == \
        "The message is empty."


def test_blocked_in_the_sockets_language(app):
    bob, _ = user(app)
    zh_user, zh = user(app, {"Accept-Language": "zh-Hans"})
    en_user, en = user(app, {"Accept-Language": "en-US"})
    for client in (zh_user, en_user):
        assert bob.put(f"/chat/api/blocks/{client.user['id']}").status_code == 204
    r = ack(zh, "chat-to", {"to": bob.user["id"], "content": "hello?"})
    assert r["error"] == {"code": "blocked", "message": "你无法联系此用户：你们之中有一方屏蔽了对方。"}
    r = ack(en, "chat-to", {"to": bob.user["id"], "content": "hello?"})
    assert r["error"] == {"code": "blocked",
                          "message": "You cannot reach this user: one of you blocked the other."}


@pytest.mark.server
@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_live_server_acks_in_chinese(live_server, transports):
    """The real eventlet server, a real Socket.IO client on each transport."""
    import socketio
    import requests
    bob = live_server.register(f"bob{transports[0]}")
    session = requests.Session()
    session.headers["Accept-Language"] = "zh-CN,zh;q=0.9"
    r = session.post(live_server.url + "/auth/register",
                     json={"username": f"张伟{transports[0]}", "password": PASSWORD})
    assert r.status_code == 201
    sio = socketio.Client(reconnection=False)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    sio.connect(live_server.url, namespaces=["/chat"], transports=transports, wait_timeout=5,
                headers={"Cookie": cookie, "Accept-Language": "zh-CN,zh;q=0.9"})
    try:
        ack = sio.call("chat-to", {"to": bob.user["id"], "content": " "}, namespace="/chat", timeout=5)
        assert ack == {"ok": False, "error": {"code": "empty", "message": "消息是空的。"}}
        ack = sio.call("chat-to", {"to": "x", "content": "hi"}, namespace="/chat", timeout=5)
        assert ack["error"]["code"] == "invalid"
        assert ack["error"]["message"] == "`to` 必须是用户 id（整数）。"
        ack = sio.call("chat-to", {"to": bob.user["id"], "content": "你好"}, namespace="/chat", timeout=5)
        assert ack["ok"] is True and ack["message"]["content"] == "你好"
    finally:
        sio.disconnect()


def test_the_widget_language_asked_at_connect(app):
    """The widget passes its page's language in the connect auth; it ranks as
    Accept-Language does, after the cookie."""
    bob, _ = user(app)
    client, _ = user(app)
    sio = app.extensions["socketio"]
    sc = sio.test_client(app, namespace="/chat", flask_test_client=client,
                         headers={"Accept-Language": "en"}, auth={"lang": "zh-CN"})
    assert ack(sc, "chat-to", {"to": bob.user["id"], "content": ""})["error"]["message"] == "消息是空的。"
    client.set_cookie("chat_lang", "en")
    sc = sio.test_client(app, namespace="/chat", flask_test_client=client, auth={"lang": "zh-CN"})
    assert ack(sc, "chat-to", {"to": bob.user["id"], "content": ""})["error"]["message"] == \
        "The message is empty."
    sc = sio.test_client(app, namespace="/chat", flask_test_client=client, auth={"lang": ["zh"]})
    assert sc.is_connected("/chat")  # junk in auth is ignored
