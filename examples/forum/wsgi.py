"""Run the forum on eventlet, the production set-up.

    python -m examples.forum.wsgi [--host 127.0.0.1] [--port 5001]
    gunicorn --worker-class eventlet -w 1 examples.forum.wsgi:app
"""
import argparse
import sys

# gunicorn's eventlet worker patches before importing this module.
if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()

from examples.forum.app import create_app  # noqa: E402
from examples.forum.extensions import socketio  # noqa: E402

app = create_app()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the example forum on eventlet.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    socketio.run(app, host=args.host, port=args.port, log_output=False)


if __name__ == "__main__":
    sys.exit(main())
