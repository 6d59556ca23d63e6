"""The ``chat`` blueprint: JSON API, avatars, the widget's static files."""
import hashlib
from functools import wraps
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from . import errors, i18n, services
from .errors import ChatError
from .i18n import _l

bp = Blueprint("chat", __name__, static_folder="static", template_folder="templates",
               static_url_path="/static")


def state():
    return current_app.extensions["chat"]


def error_response(exc):
    return jsonify(exc.to_dict()), exc.status


@bp.errorhandler(ChatError)
def handle_chat_error(exc):
    return error_response(exc)


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


def check_same_origin():
    """Writes from another origin are refused unless it is allowed."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and not state().origin_allowed(
            request.headers.get("Origin"), request.environ):
        raise errors.forbidden(_l("Cross-origin request refused."))


def login_required_json(view):
    """401 JSON (never a redirect) unless logged in; same-origin writes only."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            raise errors.unauthorized()
        check_same_origin()
        return view(state().user_id(current_user), *args, **kwargs)
    return wrapped


def int_arg(name, default=None, low=None, high=None):
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


@bp.get("/api/me")
@login_required_json
def me(uid):
    """The logged-in user."""
    return {"user": state().user_dict(current_user), "locale": i18n.get_locale()}


@bp.get("/api/users")
@login_required_json
def users(uid):
    """Find users to chat with, by part of their name."""
    st = state()
    limit = int_arg("limit", current_app.config["CHAT_USER_SEARCH_LIMIT"], 1, 100)
    q = request.args.get("q", "").strip()
    if "\x00" in q:  # no name holds it, and PostgreSQL refuses it in a query
        raise errors.invalid(_l("`q` must not contain NUL."))
    return {"users": services.find_users(st, uid, q, limit)}


@bp.get("/api/conversations")
@login_required_json
def conversations(uid):
    """The caller's conversations, newest first."""
    return {"conversations": services.conversations(state(), uid)}


@bp.get("/api/conversations/<other_id>/messages")
@login_required_json
def messages(uid, other_id):
    """One page of history with another user, oldest to newest."""
    st = state()
    other = st.user_id_from_path(other_id)
    cfg = current_app.config
    limit = int_arg("limit", cfg["CHAT_HISTORY_PAGE_SIZE"], 1, cfg["CHAT_HISTORY_MAX_PAGE"])
    before, after = (int_arg(n, low=0, high=2**63 - 1) for n in ("before", "after"))
    if before is not None and after is not None:
        raise errors.invalid(_l("Give `before` or `after`, not both."))
    rows, has_more = services.history(st, uid, other, before, after, limit)
    users = st.load_users([other])
    if other not in users:
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    online = st.presence.is_online(other)
    return {"me": st.user_dict(current_user), "other": st.user_dict(users[other], online),
            "messages": rows, "has_more": has_more}


@bp.post("/api/conversations/<other_id>/read")
@login_required_json
def read(uid, other_id):
    """Mark the other user's messages read up to a message id."""
    st = state()
    other = st.user_id_from_path(other_id)
    body = json_body()
    services.mark_read(st, uid, other, body.get("up_to"))
    return "", 204


@bp.get("/avatar/<user_id>.svg")
def avatar(user_id):
    """A generated avatar: the name's initial on a colour of its own."""
    st = state()
    try:
        uid = st.user_id_from_path(user_id)
    except ChatError:
        return error_response(errors.not_found())
    user = st.load_users([uid]).get(uid)
    if user is None:
        return error_response(errors.not_found(_l("No such user.")))
    name = st.display_name(user) or "?"
    hue = int(hashlib.sha1(str(uid).encode()).hexdigest()[:6], 16) % 360
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
           f'<circle cx="20" cy="20" r="20" fill="hsl({hue},55%,48%)"/>'
           '<text x="20" y="26" font-size="18" text-anchor="middle" fill="#fff" '
           f'font-family="sans-serif">{escape(name[0].upper())}</text></svg>')
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
