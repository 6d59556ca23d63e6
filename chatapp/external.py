"""Emit from an external process (as Flask-SocketIO calls it): a background
job, a worker, a shell sends chat without serving any client.

The process builds the site's app with its own factory (same database, same
``CHAT_MESSAGE_QUEUE``) and sends through the same service layer as a user's
socket, so the message is validated, stored and delivered like any other::

    from chatapp.external import ExternalProcess
    from mysite import create_app

    chat = ExternalProcess(create_app())
    chat.send_message(sender=1, to=7, content="Your order has shipped.",
                      client_id="order-1042-shipped")   # safe to retry
    chat.send_notice(7, "Maintenance tonight at 22:00 UTC.")

The socket side is Flask-SocketIO's write-only mode: a ``SocketIO`` with only
a message queue publishes to Redis and the server processes deliver.
"""
import copy

from flask_socketio import SocketIO

from . import realtime, services


class ExternalProcess:
    def __init__(self, app):
        state = app.extensions["chat"]
        url = app.config["CHAT_MESSAGE_QUEUE"]
        if not url:
            raise RuntimeError("Sending from another process needs CHAT_MESSAGE_QUEUE "
                               "(the Redis URL the chat servers use).")
        self.app = app
        # A copy of the app's chat state whose socket only publishes to the queue;
        # this process serves no clients, so threads are the right async mode.
        self.state = copy.copy(state)
        self.state.socketio = SocketIO(
            message_queue=url, async_mode="threading",
            channel=app.config["CHAT_QUEUE_CHANNEL"])

    def send_message(self, sender, to, content, client_id=None):
        """Store and deliver a message from ``sender``; return the ack body.

        Raises ``chatapp.errors.ChatError`` for what a socket would refuse.
        """
        data = {"to": to, "content": content}
        if client_id is not None:
            data["client_id"] = client_id
        with self.app.app_context():
            return services.send_message(self.state, sender, data)

    def send_notice(self, user_id, text):
        """Show a system notice (not stored) on every connection of a user."""
        realtime.push(self.state, (user_id,), "notice", {"text": str(text)})
