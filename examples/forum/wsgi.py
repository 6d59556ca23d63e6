"""Run the forum on eventlet, the production set-up.

    python -m examples.forum.wsgi [--host 127.0.0.1] [--port 5001]
    gunicorn -k gevent -w 1 --keep-alive 60 examples.forum.wsgi:app   # with SOCKETIO_ASYNC_MODE = "gevent"

It makes the same serving calls as the standalone site's ``wsgi.py``.
"""
import argparse
import sys

# gunicorn's async workers patch before importing this module.
if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()

from chatapp import serving  # noqa: E402  [chat]
from examples.forum.app import create_app  # noqa: E402

app = create_app()
serving.production(app)  # [chat] body limits, SIGTERM drain under gunicorn


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the example forum on eventlet.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    return serving.serve(app, args.host, args.port)  # [chat] eventlet.wsgi, chat's limits


if __name__ == "__main__":
    sys.exit(main())
