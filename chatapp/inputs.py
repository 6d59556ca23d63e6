"""Every parser of client input: ids in payloads and paths, query integers,
JSON bodies. Each returns a clean value or raises the contract's error."""
from flask import request

from . import errors
from .i18n import _l
from .models import storable

#: Every database's BIGINT holds ids below this.
ID_LIMIT = 2**63


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def user_id(state, value, field):
    """A user id from a payload, of the host's id type, else ``invalid``."""
    if state.id_type is int:
        ok = _is_int(value)
    else:
        ok = isinstance(value, str) and value != "" and storable(value)
    if not ok:
        kind = _l("an integer") if state.id_type is int else _l("a string")
        raise errors.invalid(_l("`%(field)s` must be a user id (%(kind)s).", field=field, kind=kind))
    return value


def user_id_from_path(state, value):
    """A user id from a URL segment; ``unknown_user`` if no user can have it."""
    if state.id_type is int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not -ID_LIMIT <= number < ID_LIMIT:
            raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(value)))
        return number
    return value


def message_id(value, field):
    """A message id from a payload."""
    if not _is_int(value) or not 0 <= value < ID_LIMIT:  # 2**63 overflows every database
        raise errors.invalid(_l("`%(field)s` must be a message id.", field=field))
    return value


def query_int(name, default=None, low=None, high=None):
    """An integer query argument between ``low`` and ``high``, else ``default``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid(_l("`%(name)s` must be an integer.", name=name)) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise errors.invalid(_l("`%(name)s` must be between %(low)s and %(high)s.",
                                 name=name, low=low, high=high))
    return value


def json_body():
    """The request's JSON object; 415 unless the body is ``application/json``."""
    if not request.content_length and not request.data:
        return {}
    if request.mimetype != "application/json":
        raise errors.unsupported(_l("Send the body as application/json."))
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise errors.invalid(_l("The body must be a JSON object."))
    return data
