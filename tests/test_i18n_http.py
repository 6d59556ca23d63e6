"""Languages over HTTP: the standalone pages, the switcher, ``/api/me``'s
``locale``, and error messages in the chosen language with unchanged codes."""
import re

import pytest

PASSWORD = "password123"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def csrf_token(html):
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def register(client, name, headers=None):
    return client.post("/auth/register", json={"username": name, "password": PASSWORD},
                       headers=headers or {})


def test_pages_in_english_by_default(client):
    html = client.get("/register").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Create account</h1>" in html
    # the name rule beside the field, before anything is submitted
    assert "1 to 32 letters or digits in any script" in html
    assert 'aria-describedby="hint-username"' in html


def test_pages_in_chinese_from_accept_language(client):
    html = client.get("/register", headers=ZH).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in html
    assert "<h1>注册账号</h1>" in html
    assert "1 到 32 个任意文字的字母或数字" in html
    assert "Create account" not in html and "Password" not in html
    html = client.get("/login", headers=ZH).get_data(as_text=True)
    assert "<h1>登录</h1>" in html and "注册一个账号" in html


def test_switcher_sets_the_cookie_and_comes_back(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'value="zh-Hans"' in html and "简体中文" in html
    r = client.post("/language", data={"lang": "zh-Hans", "next": "/register",
                                       "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and r.headers["Location"] == "/register"
    assert "chat_lang=zh-Hans" in r.headers["Set-Cookie"]
    assert "SameSite=Lax" in r.headers["Set-Cookie"]
    html = client.get("/register").get_data(as_text=True)
    assert "<h1>注册账号</h1>" in html
    assert 'aria-pressed="true" class="is-current">简体中文' in html
    # the cookie wins over Accept-Language
    r = client.post("/language", data={"lang": "en", "csrf_token": csrf_token(html)},
                    headers=ZH)
    assert "chat_lang=en" in r.headers["Set-Cookie"]
    assert "<h1>Create account</h1>" in client.get("/register", headers=ZH).get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_switcher_goes_back_only_to_this_site(client, target):
    html = client.get("/login").get_data(as_text=True)
    r = client.post("/language", data={"lang": "zh-Hans", "next": target,
                                       "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_switcher_needs_a_csrf_token(client):
    r = client.post("/language", data={"lang": "zh-Hans"})
    assert r.status_code == 400
    assert "Set-Cookie" not in r.headers or "chat_lang" not in r.headers["Set-Cookie"]


def test_switcher_ignores_a_language_not_offered(client):
    html = client.get("/login").get_data(as_text=True)
    r = client.post("/language", data={"lang": "klingon", "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and "chat_lang" not in r.headers.get("Set-Cookie", "")


def test_me_gives_the_locale(client):
    assert register(client, "alice").status_code == 201
    assert client.get("/chat/api/me").json["locale"] == "en"
    assert client.get("/chat/api/me", headers=ZH).json["locale"] == "zh-Hans"
    client.set_cookie("chat_lang", "zh-Hans")
    assert client.get("/chat/api/me", headers={"Accept-Language": "en"}).json["locale"] == "zh-Hans"


def test_register_form_errors_in_chinese(client):
    html = client.get("/register", headers=ZH).get_data(as_text=True)
    r = client.post("/register", headers=ZH, data={
        "username": "a b", "password": "short", "csrf_token": csrf_token(html)})
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "密码长度为 8 到 256 个字符。" in page
    assert page.count("1 到 32 个任意文字的字母或数字") == 2  # the hint and the error


def test_chinese_name_through_the_form(client):
    html = client.get("/register", headers=ZH).get_data(as_text=True)
    r = client.post("/register", headers=ZH, data={
        "username": "张伟", "password": PASSWORD, "csrf_token": csrf_token(html)})
    assert r.status_code == 302
    assert client.get("/chat/api/me").json["user"]["username"] == "张伟"


@pytest.mark.parametrize("headers, message", [
    ({}, "Wrong name or password."),
    (ZH, "名字或密码错误。"),
])
def test_login_error_message_follows_the_language(client, headers, message):
    r = client.post("/auth/login", json={"username": "nobody", "password": PASSWORD},
                    headers=headers)
    assert r.status_code == 401
    assert r.json == {"error": {"code": "unauthorized", "message": message}}


def test_taken_and_invalid_in_chinese(client, app):
    assert register(client, "张伟").status_code == 201
    r = register(app.test_client(), "张伟", ZH)
    assert r.status_code == 409
    assert r.json["error"] == {"code": "taken", "message": "这个名字已被使用。"}
    r = register(app.test_client(), "张 伟", ZH)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "invalid"
    assert r.json["error"]["message"].startswith("名字由 1 到 32 个")


@pytest.mark.parametrize("method, path, kwargs, status, code, en, zh", [
    ("get", "/chat/api/users?limit=x", {}, 400, "invalid",
     "`limit` must be an integer.", "`limit` 必须是整数。"),
    ("get", "/chat/api/users?limit=500", {}, 400, "invalid",
     "`limit` must be between 1 and 100.", "`limit` 必须在 1 到 100 之间。"),
    ("get", "/chat/api/conversations/999999/messages", {}, 404, "unknown_user",
     "No user with id 999999.", "没有 id 为 999999 的用户。"),
    ("get", "/chat/api/conversations/1/messages?before=1&after=2", {}, 400, "invalid",
     "Give `before` or `after`, not both.", "`before` 和 `after` 只能给一个。"),
    ("post", "/chat/api/conversations/1/read", {"data": "x", "content_type": "text/plain"}, 415,
     "unsupported", "Send the body as application/json.", "请以 application/json 格式发送请求体。"),
    ("post", "/chat/api/conversations/1/read", {"json": {}, "headers": {"Origin": "http://evil.example"}},
     403, "forbidden", "Cross-origin request refused.", "已拒绝跨域请求。"),
    ("get", "/chat/api/no-such-thing", {}, 404, "not_found", "Not found.", "未找到。"),
    ("delete", "/chat/api/me", {}, 405, "invalid", "This method is not allowed here.",
     "此处不允许这种请求方法。"),
])
def test_api_errors_in_both_languages(client, method, path, kwargs, status, code, en, zh):
    assert register(client, "alice").status_code == 201
    for accept, message in (("en-US", en), ("zh-CN,zh;q=0.9", zh)):
        headers = {**kwargs.get("headers", {}), "Accept-Language": accept}
        r = getattr(client, method)(path, **{**kwargs, "headers": headers})
        assert r.status_code == status
        assert r.json == {"error": {"code": code, "message": message}}


def test_not_logged_in_in_chinese(client):
    r = client.get("/chat/api/me", headers=ZH)
    assert r.status_code == 401
    assert r.json == {"error": {"code": "unauthorized", "message": "请先登录。"}}


def test_a_form_without_its_token_is_refused_in_the_visitors_language(client):
    r = client.post("/register", data={"username": "张伟", "password": PASSWORD}, headers=ZH)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "这个表单已过期" in page and 'href="/register"' in page
    assert client.get("/chat/api/me").status_code == 401
