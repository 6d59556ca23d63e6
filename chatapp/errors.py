"""The one error type of the chat contract, and the one place its JSON body is built."""
from flask import jsonify

#: The contract's code for each HTTP status chat answers with.
HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found",
              413: "too_large", 415: "unsupported", 429: "rate_limited"}


def body(code, message):
    """The contract's error object: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


def response(exc):
    """A Flask response for a ``ChatError``."""
    return jsonify(exc.to_dict()), exc.status


def http_response(exc):
    """A Flask response for a werkzeug ``HTTPException`` under the chat API."""
    return jsonify(body(HTTP_CODES.get(exc.code, "invalid"), exc.description)), exc.code


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


def taken(message="That name is taken."):
    return ChatError("taken", message, 409)


def unauthorized(message="Log in first."):
    return ChatError("unauthorized", message, 401)


def forbidden(message="You may not do that."):
    return ChatError("forbidden", message, 403)


def not_found(message="Not found."):
    return ChatError("not_found", message, 404)


def unknown_user(message="No such user."):
    return ChatError("unknown_user", message, 404)


def empty(message="The message is empty."):
    return ChatError("empty", message, 400)


def too_long(limit):
    return ChatError("too_long", f"Messages are at most {limit} characters.", 400)


def rate_limited(message="Too many messages; wait a few seconds."):
    return ChatError("rate_limited", message, 429)


def unsupported(message="Unsupported."):
    return ChatError("unsupported", message, 415)


def internal(message="Something went wrong; try again."):
    return ChatError("internal", message, 500)


def blocked(message="You cannot reach this user: one of you blocked the other."):
    return ChatError("blocked", message, 403)


def too_large(message="Too large."):
    return ChatError("too_large", message, 413)
