"""Shared fixtures: the app and its clients, the real server in a subprocess,
the browser. Helpers the tests import live in ``helpers.py``."""
import pytest

from chatapp import create_app
# Importable from here too for test modules that still name conftest.
from helpers import (CHROMIUM, CHROMIUM_ARGS, ROOT, AuthActions, LiveServer,  # noqa: F401
                     free_port, read_until_closed, start_process, stop_process)


@pytest.fixture
def app(tmp_path):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'chat.sqlite'}",
        "SOCKETIO_ASYNC_MODE": "threading",
        "WTF_CSRF_ENABLED": True,
        "CHAT_RATE_LIMIT": 0,
        "CHAT_REGISTER_LIMIT": 0,  # tests register many users; test_throttle turns it on
        "CHAT_UPLOAD_STORAGE": str(tmp_path / "uploads"),
    })
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask's CLI runner for ``app``."""
    return app.test_cli_runner()


@pytest.fixture
def auth(app):
    return AuthActions(app)


@pytest.fixture
def live_server_factory(tmp_path):
    servers = []

    def make(cls=LiveServer, **kw):
        server = cls(tmp_path, **kw).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def live_server(live_server_factory):
    return live_server_factory()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, one for the whole session
    (Playwright's sync API allows one running instance per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
