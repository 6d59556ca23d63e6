"""Production entry point: the async mode's monkey patching first, then the app.

    python wsgi.py [--host 0.0.0.0] [--port 5000]     # eventlet.wsgi
    CHATAPP_ASYNC_MODE=gevent python wsgi.py          # gevent's pywsgi
    GEVENT_TRACK_GREENLET_TREE=false gunicorn -k gevent -w 1 --keep-alive 60 wsgi:app  # 26+
    gunicorn -k eventlet -w 1 wsgi:app                # legacy: gunicorn < 26

``flask run`` also finds this file; it runs in threading mode, WebSocket included.
"""
import gc
import logging
import os
import sys

if __name__ == "__main__":  # gunicorn's async workers patch before importing this
    if (os.environ.get("CHATAPP_ASYNC_MODE") or "eventlet") == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    elif os.environ["CHATAPP_ASYNC_MODE"] == "gevent":
        # gevent's documented setting: greenlets do not record the stack that
        # spawned them (about 1.5 KiB each; a WebSocket keeps four).
        os.environ.setdefault("GEVENT_TRACK_GREENLET_TREE", "false")
        from gevent import monkey
        monkey.patch_all()

from chatapp import serving  # noqa: E402

MODE = serving.async_mode(default="eventlet" if __name__ == "__main__" else "threading")
serving.green_database_waits()  # before the app imports psycopg
# Flask-SocketIO would pick eventlet whenever it is installed: say which.
os.environ.setdefault("FLASK_SOCKETIO_ASYNC_MODE", MODE)
logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("chatapp").setLevel(os.environ.get("CHATAPP_LOG_LEVEL", "INFO"))

from chatapp import create_app  # noqa: E402

app = create_app()
socketio = app.extensions["socketio"]
serving.production(app)
# What start-up made lives as long as the process: keep the collector's full
# passes (a pause for every socket) from walking it again and again.
gc.freeze()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Run chatapp on eventlet or gevent.")
    parser.add_argument("--host", default=os.environ.get("CHATAPP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHATAPP_PORT", "5000")))
    args = parser.parse_args(argv)
    return serving.serve(app, args.host, args.port, MODE)


if __name__ == "__main__":
    sys.exit(main())
