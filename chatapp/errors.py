"""The one error type of the chat contract and its JSON body.

Messages are lazy (``chatapp.i18n._l``): they are written in the language of
the request (or socket) when the body is built; codes never change.
"""
from .i18n import _l


class ChatError(Exception):
    """A refusal with a contract ``code``, a human message and an HTTP status."""

    status = 400

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status

    def to_dict(self):
        # str(): a lazy message is translated here, in the request's language.
        return {"error": {"code": self.code, "message": str(self.message)}}


def invalid(message):
    return ChatError("invalid", message, 400)


def taken(message=_l("That name is taken.")):
    return ChatError("taken", message, 409)


def unauthorized(message=_l("Log in first.")):
    return ChatError("unauthorized", message, 401)


def forbidden(message=_l("You may not do that.")):
    return ChatError("forbidden", message, 403)


def not_found(message=_l("Not found.")):
    return ChatError("not_found", message, 404)


def unknown_user(message=_l("No such user.")):
    return ChatError("unknown_user", message, 404)


def empty(message=_l("The message is empty.")):
    return ChatError("empty", message, 400)


def too_long(limit):
    return ChatError("too_long", _l("Messages are at most %(limit)s characters.", limit=limit), 400)


def rate_limited(message=_l("Too many messages; wait a few seconds.")):
    return ChatError("rate_limited", message, 429)


def unsupported(message=_l("Unsupported.")):
    return ChatError("unsupported", message, 415)


#: The message of an HTTP error werkzeug raises under the chat API (a wrong
#: method, an unknown URL...), in the request's language; others keep
#: werkzeug's own description.
HTTP_MESSAGES = {
    400: _l("Bad request."), 401: _l("Log in first."), 403: _l("You may not do that."),
    404: _l("Not found."), 405: _l("This method is not allowed here."),
    413: _l("The request is too large."), 415: _l("Unsupported."),
    429: _l("Too many requests; wait a few seconds."), 500: _l("Something went wrong; try again."),
}


def http_message(exc):
    return str(HTTP_MESSAGES.get(exc.code, exc.description))
