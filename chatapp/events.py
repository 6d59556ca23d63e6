"""The ``/chat`` Socket.IO namespace: parse, call ``services``, return the ack.

Only ``connect`` needs Flask's request context (to read the login session);
every later event runs in a plain app context, which is much cheaper, and
reads the user id remembered at connect instead of loading the user again.
"""
import logging

from flask import request
from flask_login import current_user
# Socket.IO's own ConnectionRefusedError: its message reaches the client as the
# CONNECT_ERROR data; the built-in one only says "Connection refused by server".
from flask_socketio import ConnectionRefusedError, Namespace, join_room

from . import errors, i18n, realtime, services, transport, users
from .errors import ChatError
from .i18n import _l

log = logging.getLogger("chatapp")


class ChatNamespace(Namespace):
    def __init__(self, state):
        super().__init__(state.namespace)
        self.state = state
        self.handlers = {"chat-to": self.chat_to, "typing": self.typing,
                         "read": self.read, "edit": self.edit, "delete": self.delete}
        self.locales = {}  # sid -> the language of the request that opened it

    def trigger_event(self, event, sid, *args):
        # A client may emit events named "connect"/"disconnect" on a live socket;
        # the server's own ones come before the sid is known / after it is closing.
        presence = self.state.presence
        if event in ("connect", "disconnect") and presence.user_of(sid) is not None \
                and self.socketio.server.manager.is_connected(sid, self.namespace):
            return self.refusal(sid, errors.unsupported(_l("Unknown event %(event)s.", event=repr(event))))
        if event == "connect":
            return self.socketio._handle_event(self.on_connect, event, self.namespace,
                                               sid, *args)
        if event == "disconnect":
            return self.on_disconnect(sid, *args)
        user_id = presence.user_of(sid)
        handler = self.handlers.get(event)
        if handler is None or user_id is None:
            return self.refusal(sid, errors.unsupported(_l("Unknown event %(event)s.", event=repr(event))))
        data = args[0] if args else None
        try:
            with self.state.app.app_context():
                i18n.use_locale(self.locales.get(sid) or i18n.default_language())
                return handler(user_id, sid, data)
        except ChatError as exc:
            if exc.code not in ("invalid", "empty"):
                log.info("user %s: %s refused: %s", user_id, event, exc.code)
            return self.refusal(sid, exc)
        except Exception:  # never drop the connection over one bad event
            log.exception("user %s: %s failed", user_id, event)
            return self.refusal(sid, errors.internal())

    def refusal(self, sid, exc):
        """The ack of a refused event, its message in the socket's language."""
        with self.state.app.app_context():
            i18n.use_locale(self.locales.get(sid) or i18n.default_language())
            return {"ok": False, **exc.to_dict()}

    def on_connect(self, auth=None):
        state = self.state
        if not transport.origin_allowed(state, request.headers.get("Origin"), request.environ):
            log.info("socket refused: origin %s", request.headers.get("Origin"))
            raise ConnectionRefusedError("forbidden")
        if not current_user.is_authenticated:
            log.info("socket refused: not logged in (%s)", request.remote_addr)
            raise ConnectionRefusedError("unauthorized")
        user_id = users.user_id(state, current_user)
        # The widget asks for its page's language; it ranks as Accept-Language.
        asked = auth.get("lang") if isinstance(auth, dict) else None
        self.locales[request.sid] = i18n.negotiate(asked if isinstance(asked, str) else None)
        join_room(realtime.room(user_id))
        log.info("user %s connected (%s)", user_id, request.sid)
        state.presence.start(state.socketio)  # idempotent: the heartbeat starts with the first socket
        state.presence.connect(user_id, request.sid)  # announces a first connection

    def on_disconnect(self, sid, reason=None):
        user_id = self.state.presence.disconnect(sid)  # announces a last connection
        self.locales.pop(sid, None)
        if user_id is not None:
            log.info("user %s disconnected (%s): %s", user_id, sid, reason or "closed")

    def chat_to(self, user_id, sid, data):
        return services.send_message(self.state, user_id, data, sid=sid)

    def typing(self, user_id, sid, data):
        services.typing(self.state, user_id, data)
        return {"ok": True}

    def read(self, user_id, sid, data):
        services.read_event(self.state, user_id, data)
        return {"ok": True}

    def edit(self, user_id, sid, data):
        if not isinstance(data, dict):
            raise errors.invalid(_l("The payload must be an object."))
        message = services.edit_message(self.state, user_id, data.get("id"), data, sid=sid)
        return {"ok": True, "message": message}

    def delete(self, user_id, sid, data):
        if not isinstance(data, dict):
            raise errors.invalid(_l("The payload must be an object."))
        services.delete_message(self.state, user_id, data.get("id"), sid=sid)
        return {"ok": True}

