"""Production entry point: eventlet first, then the app.

    python wsgi.py [--host 0.0.0.0] [--port 5000]
    gunicorn --worker-class eventlet -w 1 wsgi:app

``flask run`` also finds this file; it runs in threading mode, WebSocket included.
"""
import os
import sys

# gunicorn's eventlet worker patches before importing this module.
if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()

from chatapp import create_app  # noqa: E402

app = create_app()


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Run chatapp on eventlet.")
    parser.add_argument("--host", default=os.environ.get("CHATAPP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHATAPP_PORT", "5000")))
    args = parser.parse_args(argv)
    socketio = app.extensions["socketio"]
    socketio.run(app, host=args.host, port=args.port, log_output=False)


if __name__ == "__main__":
    sys.exit(main())
