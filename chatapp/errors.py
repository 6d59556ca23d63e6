"""The one error type of the chat contract, and the one place its JSON body is built.

Messages are lazy (``chatapp.i18n._l``): they are written in the language of
the request (or socket) when the body is built; codes never change.
"""
from flask import jsonify

from .i18n import _l

#: The contract's code for each HTTP status chat answers with.
HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found",
              413: "too_large", 415: "unsupported", 429: "rate_limited"}


def body(code, message):
    """The contract's error object: ``{"error": {"code", "message"}}``.

    ``str()`` translates a lazy message here, in the request's language."""
    return {"error": {"code": code, "message": str(message)}}


def response(exc):
    """A Flask response for a ``ChatError``."""
    return jsonify(exc.to_dict()), exc.status


def http_response(exc):
    """A Flask response for a werkzeug ``HTTPException`` under the chat API."""
    message = HTTP_MESSAGES.get(exc.code, exc.description)
    return jsonify(body(HTTP_CODES.get(exc.code, "invalid"), message)), exc.code


#: The message of an HTTP error werkzeug raises under the chat API (a wrong
#: method, an unknown URL...), in the request's language; others keep
#: werkzeug's own description.
HTTP_MESSAGES = {
    400: _l("Bad request."), 401: _l("Log in first."), 403: _l("You may not do that."),
    404: _l("Not found."), 405: _l("This method is not allowed here."),
    413: _l("The request is too large."), 415: _l("Unsupported."),
    429: _l("Too many requests; wait a few seconds."), 500: _l("Something went wrong; try again."),
}


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
        return body(self.code, self.message)


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


def too_large(message=_l("The request is too large.")):
    return ChatError("too_large", message, 413)


def internal(message=_l("Something went wrong; try again.")):
    return ChatError("internal", message, 500)


def blocked(message=_l("You cannot reach this user: one of you blocked the other.")):
    return ChatError("blocked", message, 403)
