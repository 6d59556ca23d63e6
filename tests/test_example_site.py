"""The example forum, run for real: ``python -m examples.forum.wsgi`` on eventlet."""
import os
import re
import sys
import threading

import pytest
import requests
import socketio
import sqlalchemy as sa

from helpers import ROOT, free_port, start_process, stop_process
from realservices import postgres_database

pytestmark = pytest.mark.server
FORUM = ROOT / "examples" / "forum"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Forum:
    """The forum in a subprocess on a free port, with its own SQLite file."""

    def __init__(self, tmp, db_uri=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = tmp / "forum.sqlite"
        self.db_uri = db_uri or f"sqlite:///{self.db_path}"
        self.log_path = tmp / "forum.log"
        env = {**os.environ, "FORUM_INSTANCE_PATH": str(tmp / "instance"),
               "FLASK_SECRET_KEY": "forum-test-secret", "FLASK_CHAT_RATE_LIMIT": "0",
               "FLASK_SQLALCHEMY_DATABASE_URI": self.db_uri,
               "PYTHONUNBUFFERED": "1"}
        self.log = open(self.log_path, "ab")
        try:
            self.proc = start_process(
                [sys.executable, "-m", "examples.forum.wsgi", "--port", str(self.port)],
                env, self.log, self.url)
        except RuntimeError:
            self.log.close()
            raise

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    def token(self, session, path):
        return TOKEN.search(session.get(self.url + path).text).group(1)

    def join(self, handle, display_name, accepts_messages=True):
        """A member who joined through the forum's own form, logged in."""
        s = requests.Session()
        data = {"handle": handle, "display_name": display_name,
                "password": "forum-pass-1", "csrf_token": self.token(s, "/join")}
        if accepts_messages:
            data["accepts_messages"] = "y"
        r = s.post(self.url + "/join", data=data, allow_redirects=False)
        assert r.status_code == 302, r.text
        s.member = s.get(self.url + "/chat/api/me").json()["user"]
        return s


@pytest.fixture(scope="module")
def forum(tmp_path_factory):
    server = Forum(tmp_path_factory.mktemp("forum"))
    yield server
    server.stop()


class Client:
    """A python-socketio client of one member, recording what it receives."""

    def __init__(self, forum, session, namespaces=("/chat",), transports=None):
        self.sio = socketio.Client(reconnection=False)
        self.got = []
        self.arrived = threading.Condition()
        for ns, event in [("/chat", "message"), ("/chat", "read"), ("/forum", "new-post")]:
            self.sio.on(event, self._record(event), namespace=ns)
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.sio.connect(forum.url, namespaces=list(namespaces), transports=transports,
                         headers={"Cookie": cookie} if cookie else {}, wait_timeout=10)

    def _record(self, event):
        def handler(data):
            with self.arrived:
                self.got.append((event, data))
                self.arrived.notify_all()
        return handler

    def wait_for(self, event, timeout=10):
        with self.arrived:
            self.arrived.wait_for(lambda: any(e == event for e, _ in self.got), timeout)
        found = [d for e, d in self.got if e == event]
        assert found, f"no {event!r} within {timeout}s; got {self.got}"
        return found

    def call(self, event, data, namespace="/chat"):
        return self.sio.call(event, data, namespace=namespace, timeout=10)

    def close(self):
        if self.sio.connected:
            self.sio.disconnect()


@pytest.fixture
def clients():
    made = []

    def make(*args, **kw):
        made.append(Client(*args, **kw))
        return made[-1]

    make.made = made
    yield make
    for c in made:
        c.close()


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_members_chat_through_the_real_server(forum, clients, transport):
    alice = forum.join(f"alice-{transport}", "Alice Liddell")
    bob = forum.join(f"bob-{transport}", "Bob Builder")
    a_id, b_id = alice.member["id"], bob.member["id"]
    assert a_id.startswith("m-") and alice.member["username"] == "Alice Liddell"
    ca = clients(forum, alice, transports=[transport])
    cb = clients(forum, bob, transports=[transport])

    ack = ca.call("chat-to", {"to": b_id, "content": "hello <b>bob</b>", "client_id": "k1"})
    assert ack["ok"] and ack["delivered"] is True, ack
    msg = ack["message"]
    assert (msg["from"], msg["to"], msg["content"]) == (a_id, b_id, "hello <b>bob</b>")
    assert cb.wait_for("message") == [msg]
    reply = cb.call("chat-to", {"to": a_id, "content": "hi alice"})["message"]
    assert ca.wait_for("message") == [reply]

    page = bob.get(f"{forum.url}/chat/api/conversations/{a_id}/messages").json()
    assert [m["id"] for m in page["messages"]] == [msg["id"], reply["id"]]
    assert page["other"] == {"id": a_id, "username": "Alice Liddell",
                             "avatar": f"/chat/avatar/{a_id}.svg", "online": True}
    assert cb.call("read", {"with": a_id, "up_to": msg["id"]}) == {"ok": True}
    assert ca.wait_for("read") == [{"by": b_id, "with": a_id,
                                    "conversation": msg["conversation"], "up_to": msg["id"]}]
    assert ca.call("chat-to", {"to": 7, "content": "x"})["error"]["code"] == "invalid"
    assert ca.call("chat-to", {"to": "m-nobody", "content": "x"})["error"]["code"] \
        == "unknown_user"


def test_forum_events_work_beside_chat(forum, clients):
    ann = forum.join("ann", "Ann")
    ben = forum.join("ben", "Ben")
    c = clients(forum, ann, namespaces=("/chat", "/forum"))
    assert c.call("ping", "are you there", namespace="/forum") == {
        "pong": "are you there", "member": "Ann"}

    post = {"body": "Welcome to the board", "csrf_token": forum.token(ben, "/")}
    assert ben.post(forum.url + "/", data=post, allow_redirects=False).status_code == 302
    assert c.wait_for("new-post")[0]["body"] == "Welcome to the board"
    assert c.call("chat-to", {"to": ben.member["id"], "content": "nice post"})["ok"]

    anon = clients(forum, requests.Session(), namespaces=("/forum",))
    assert anon.call("ping", 1, namespace="/forum") == {"pong": 1, "member": None}
    refused, sio = [], socketio.Client(reconnection=False)
    sio.on("connect_error", refused.append, namespace="/chat")
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(forum.url, namespaces=["/chat"], wait_timeout=10)
    sio.disconnect()
    assert refused == [{"message": "unauthorized"}]


def test_can_message_hook_on_the_real_server(forum, clients):
    dan = forum.join("dan", "Dan")
    eve = forum.join("eve", "Eve", accepts_messages=False)
    ack = clients(forum, dan).call("chat-to", {"to": eve.member["id"], "content": "hi"})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    found = dan.get(forum.url + "/chat/api/users?q=e").json()["users"]
    assert eve.member["id"] not in [u["id"] for u in found]
    assert [u["username"] for u in eve.get(forum.url + "/chat/api/users?q=dan")
            .json()["users"]] == ["Dan"]


def test_forum_csrf_stays_on_for_its_own_forms(forum):
    fay = forum.join("fay", "Fay")
    anon = requests.Session()
    login = {"handle": "fay", "password": "forum-pass-1"}
    assert anon.post(forum.url + "/login", data=login).status_code == 400
    login["csrf_token"] = forum.token(anon, "/login")
    assert anon.post(forum.url + "/login", data=login, allow_redirects=False) \
        .status_code == 302
    assert fay.post(forum.url + "/", data={"body": "no token"}).status_code == 400
    assert fay.post(forum.url + "/logout").status_code == 400
    assert fay.get(forum.url + "/chat/api/me").status_code == 200
    assert "no token" not in fay.get(forum.url + "/").text

    # Chat's JSON API needs no token: it refuses any body that is not JSON.
    r = fay.post(f"{forum.url}/chat/api/conversations/m-x/read", data={"up_to": "1"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported"


def test_chat_tables_live_in_the_forum_database(forum, clients):
    gus = forum.join("gus", "Gus")
    hal = forum.join("hal", "Hal")
    ack = clients(forum, gus).call("chat-to", {"to": hal.member["id"], "content": "in db"})
    assert ack["ok"]
    assert_chat_row_in(forum, ack["message"]["id"], gus.member["id"], hal.member["id"])


def test_forum_on_postgresql_keeps_chat_in_its_database(tmp_path, clients):
    with postgres_database() as url:
        forum = Forum(tmp_path, db_uri=url)
        try:
            mia, ned = forum.join("mia", "Mia"), forum.join("ned", "Ned")
            cm, cn = clients(forum, mia), clients(forum, ned)
            ack = cm.call("chat-to", {"to": ned.member["id"], "content": "on postgres"})
            assert ack["ok"], ack
            assert cn.wait_for("message")[0]["id"] == ack["message"]["id"]
            assert_chat_row_in(forum, ack["message"]["id"], mia.member["id"],
                               ned.member["id"])
        finally:
            for c in clients.made:
                c.close()
            forum.stop()


def assert_chat_row_in(forum, message_id, sender, recipient):
    """The message is a row of ``forum_chat_message`` beside the forum's tables."""
    engine = sa.create_engine(forum.db_uri)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT sender_id, recipient_id FROM forum_chat_message WHERE id = :id"),
                {"id": message_id}).one()
    finally:
        engine.dispose()
    assert {"members", "posts", "forum_chat_message"} <= tables
    assert not {"chat_message", "users"} & tables
    assert tuple(row) == (sender, recipient)


def test_board_pages_carry_the_widget_for_members_only(forum):
    ivy = forum.join("ivy", "Ivy")
    jon = forum.join("jon", "Jon")
    page = ivy.get(forum.url + "/").text
    assert 'id="chat-widget"' in page
    assert f'data-chat-with="{jon.member["id"]}"' in page
    assert f'data-chat-with="{ivy.member["id"]}"' not in page
    assert 'id="chat-widget"' not in requests.get(forum.url + "/").text


CHAT_WORDS = re.compile(r"chatapp|Chat\(|chat\.|chat_widget|ChatWidget|data-chat-with|CHAT_")


def test_chat_takes_at_most_15_marked_lines_of_the_forum():
    marked, unmarked = 0, []
    for path in sorted(FORUM.rglob("*")):
        if path.suffix not in (".py", ".html"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "[chat]" in line:
                marked += 1
            elif CHAT_WORDS.search(line) and not line.lstrip().startswith(('"""', "#")):
                unmarked.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert unmarked == []
    assert 0 < marked <= 15
    assert f"{marked} lines" in (ROOT / "examples" / "README.md").read_text()


@pytest.mark.browser
def test_members_chat_in_real_browsers_from_the_board(forum, browser):
    from playwright.sync_api import expect

    kim = forum.join("kim", "Kim Novak")
    leo = forum.join("leo", "Leo Marx")
    text = "<img src=x onerror=alert(1)> hi Leo"
    contexts = []
    try:
        pages, errors = {}, []
        for name, s in (("kim", kim), ("leo", leo)):
            context = browser.new_context()
            contexts.append(context)
            context.set_default_timeout(15000)
            context.add_cookies([{"name": k, "value": v, "url": forum.url}
                                 for k, v in s.cookies.items()])
            page = pages[name] = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: errors.append("dialog: " + d.message))
            page.goto(forum.url + "/")
        kp, lp = pages["kim"], pages["leo"]

        # A "Message" link of the forum's own page opens chat (string id).
        kp.locator(f'[data-chat-with="{leo.member["id"]}"]').click()
        expect(kp.locator(".chat-header")).to_contain_text("Leo Marx", timeout=15000)
        kp.locator("#chat-input").fill(text)
        kp.locator("#chat-input").press("Enter")
        # Docked and closed on Leo's page: the launcher shows one unread.
        expect(lp.locator(".chat-launcher-badge")).to_have_text("1", timeout=15000)
        lp.locator(".chat-launcher").click()
        entry = lp.locator(f'.chat-list li[data-user-id="{kim.member["id"]}"]')
        expect(entry).to_be_visible(timeout=15000)
        entry.click()
        bubble = lp.locator(".chat-content ul li.chat-other .chat-text")
        expect(bubble).to_have_text(text, timeout=15000)
        # The text stayed text: no element made of it (the avatars' own <img>
        # elements have no src="x").
        assert lp.locator(".chat-content .chat-text img, .chat-content img[src='x']").count() == 0

        # The board's own live feed keeps working beside the widget.
        lp.locator("#post-form textarea").fill("Posted from a browser")
        lp.locator("#post-form button").click()
        expect(kp.locator("#posts li").first).to_contain_text(
            "Posted from a browser", timeout=15000)
        assert errors == []
    finally:
        for context in contexts:
            context.close()
