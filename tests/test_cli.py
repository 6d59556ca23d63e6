"""``flask chat ...`` commands, through Flask's CLI runner."""
import re

from helpers import PASSWORD, AuthActions


def login(app, name, password):
    return app.test_client().post("/auth/login", json={"username": name, "password": password})


def test_create_user_asks_for_password(app, runner):
    result = runner.invoke(args=["chat", "create-user", "dora"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created user dora" in result.output
    assert PASSWORD not in result.output  # the prompt hides it
    r = login(app, "dora", PASSWORD)
    assert r.status_code == 200 and r.json["user"]["username"] == "dora"


def test_create_user_mismatched_confirmation(app, runner):
    result = runner.invoke(args=["chat", "create-user", "dora"],
                           input=f"{PASSWORD}\nsomething-else\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output.lower()
    assert login(app, "dora", PASSWORD).status_code == 200


def test_create_user_refuses_bad_input(app, auth, runner):
    auth.register("dora")
    result = runner.invoke(args=["chat", "create-user", "DORA"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code != 0
    assert "taken" in result.output
    result = runner.invoke(args=["chat", "create-user", "bad name"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code != 0
    assert "Names are" in result.output
    result = runner.invoke(args=["chat", "create-user", "eve"], input="short\nshort\n")
    assert result.exit_code != 0
    assert login(app, "eve", "short").status_code == 401


def test_demo_creates_users_with_printed_password(app, runner):
    result = runner.invoke(args=["chat", "demo"])
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.output).group(1)
    assert len(password) >= 8
    for name in ("alice", "bob", "carol"):
        assert login(app, name, password).status_code == 200
    # Running it again resets the password of the same users.
    again = runner.invoke(args=["chat", "demo", "--password", "another-one"])
    assert again.exit_code == 0, again.output
    assert login(app, "alice", "another-one").status_code == 200
    assert login(app, "alice", password).status_code == 401
    names = app.test_client()
    names.post("/auth/login", json={"username": "alice", "password": "another-one"})
    users = names.get("/chat/api/users").json["users"]
    assert [u["username"] for u in users] == ["bob", "carol"]


def test_demo_users_can_chat(app, runner):
    runner.invoke(args=["chat", "demo", "--password", PASSWORD])
    alice, bob = app.test_client(), app.test_client()
    alice.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    bob.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    auth = AuthActions(app)
    a1, b1 = auth.socket(alice), auth.socket(bob)
    bob_id = bob.get("/chat/api/me").json["user"]["id"]
    ack = a1.emit("chat-to", {"to": bob_id, "content": "hi bob"},
                  namespace="/chat", callback=True)
    assert ack["ok"] and ack["delivered"] is True
    assert [e["args"]["content"] for e in b1.get_received("/chat")
            if e["name"] == "message"] == ["hi bob"]


def test_init_db_is_idempotent(app, runner):
    for _ in range(2):
        result = runner.invoke(args=["chat", "init-db"])
        assert result.exit_code == 0, result.output
        assert "Tables ready" in result.output


ZH_SHELL = {"LANGUAGE": "zh_CN", "LC_ALL": "zh_CN.UTF-8", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"}
EN_SHELL = {"LANGUAGE": "", "LC_ALL": "C.UTF-8", "LC_MESSAGES": "", "LANG": "C.UTF-8"}


def test_messages_follow_the_shells_language(app, auth):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["chat", "create-user", "张伟"], env=ZH_SHELL,
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "已创建用户 张伟" in result.output
    result = runner.invoke(args=["chat", "create-user", "张 伟"], env=ZH_SHELL,
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code != 0
    assert "不能有空格" in result.output
    result = runner.invoke(args=["chat", "create-user", "ＺＨＡＮＧ"], env=EN_SHELL,
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0 and "Created user ZHANG" in result.output
    result = runner.invoke(args=["chat", "demo"], env=ZH_SHELL)
    assert "演示用户：alice, bob, carol；密码：" in result.output
