"""The standalone app on each database server (SQLite, PostgreSQL, MariaDB),
and a logged-in user with a Socket.IO test client of its own."""
import contextlib
import io

from chatapp import create_app
from helpers import SeededAuth
from realservices import mariadb_database, postgres_database

API = "/chat/api"
NS = "/chat"


@contextlib.contextmanager
def sqlite_database(tmp_path):
    yield f"sqlite:///{tmp_path / 'chat.sqlite'}"


DATABASES = {"sqlite": sqlite_database, "postgresql": lambda _: postgres_database(),
             "mariadb": lambda _: mariadb_database()}


@contextlib.contextmanager
def chat_app(database, tmp_path, databases=DATABASES, **config):
    """The app on a fresh database of ``database``'s server; its engine is
    disposed of afterwards (the database server keeps no connection)."""
    with databases[database](tmp_path) as uri:
        app = create_app({
            "TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": uri,
            "SOCKETIO_ASYNC_MODE": "threading", "CHAT_RATE_LIMIT": 0, **config})
        try:
            yield app
        finally:
            with app.app_context():
                app.extensions["sqlalchemy"].engine.dispose()


class User:
    """A logged-in test client (``http``) with its socket (``sock``)."""

    def __init__(self, app, name):
        self.http = SeededAuth(app).register(name)
        self.id = self.http.user["id"]
        self.sock = app.extensions["socketio"].test_client(
            app, namespace=NS, flask_test_client=self.http)

    def send(self, content="", **payload):
        """``chat-to``; its ack."""
        return self.sock.emit("chat-to", {"content": content, **payload}, namespace=NS,
                              callback=True)

    def upload(self, content, name):
        r = self.http.post(f"{API}/uploads", data={"file": (io.BytesIO(content), name)})
        assert r.status_code == 201, r.json
        return r.json["attachment"]

    def fetch(self, url):
        with self.http.get(url) as r:
            r.get_data()
        return r.status_code
