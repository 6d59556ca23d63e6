"""The ``chat`` blueprint, every route of it: JSON API, health check, avatars,
the widget's static files."""
import hashlib
from functools import wraps
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request
from flask_login import current_user

from . import errors, inputs, ops, services, transport, users
from .errors import ChatError

bp = Blueprint("chat", __name__, static_folder="static", template_folder="templates",
               static_url_path="/static")


def state():
    return current_app.extensions["chat"]


bp.register_error_handler(ChatError, errors.response)


def login_required_json(view):
    """401 JSON (never a redirect) unless logged in; same-origin writes only."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            raise errors.unauthorized()
        st = state()
        transport.check_same_origin(st)
        return view(users.user_id(st, current_user), *args, **kwargs)
    return wrapped


@bp.get("/api/me")
@login_required_json
def me(uid):
    """The logged-in user."""
    return {"user": users.to_dict(state(), current_user)}


@bp.get("/api/users", endpoint="users")
@login_required_json
def find_users(uid):
    """Find users to chat with, by part of their name."""
    st = state()
    limit = inputs.query_int("limit", current_app.config["CHAT_USER_SEARCH_LIMIT"], 1, 100)
    q = request.args.get("q", "").strip()
    if "\x00" in q:  # no name holds it, and PostgreSQL refuses it in a query
        raise errors.invalid("`q` must not contain NUL.")
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
    other = inputs.user_id_from_path(st, other_id)
    cfg = current_app.config
    limit = inputs.query_int("limit", cfg["CHAT_HISTORY_PAGE_SIZE"], 1, cfg["CHAT_HISTORY_MAX_PAGE"])
    before, after = (inputs.query_int(n, low=0, high=2**63 - 1) for n in ("before", "after"))
    if before is not None and after is not None:
        raise errors.invalid("Give `before` or `after`, not both.")
    rows, has_more = services.history(st, uid, other, before, after, limit)
    found = users.load(st, [other])
    if other not in found:
        raise errors.unknown_user(f"No user with id {other!r}.")
    online = st.presence.is_online(other)
    return {"me": users.to_dict(st, current_user), "other": users.to_dict(st, found[other], online),
            "messages": rows, "has_more": has_more}


@bp.post("/api/conversations/<other_id>/read")
@login_required_json
def read(uid, other_id):
    """Mark the other user's messages read up to a message id."""
    st = state()
    other = inputs.user_id_from_path(st, other_id)
    body = inputs.json_body()
    services.mark_read(st, uid, other, body.get("up_to"))
    return "", 204


@bp.get("/avatar/<user_id>.svg")
def avatar(user_id):
    """A generated avatar: the name's initial on a colour of its own."""
    st = state()
    try:
        uid = inputs.user_id_from_path(st, user_id)
    except ChatError:
        return errors.response(errors.not_found())
    user = users.load(st, [uid]).get(uid)
    if user is None:
        return errors.response(errors.not_found("No such user."))
    name = users.display_name(st, user) or "?"
    hue = int(hashlib.sha1(str(uid).encode()).hexdigest()[:6], 16) % 360
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
           f'<circle cx="20" cy="20" r="20" fill="hsl({hue},55%,48%)"/>'
           '<text x="20" y="26" font-size="18" text-anchor="middle" fill="#fff" '
           f'font-family="sans-serif">{escape(name[0].upper())}</text></svg>')
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.get("/healthz")
def healthz():
    """Database and message queue reachable: 200, else 503; JSON either way."""
    ok, checks = ops.health(state())
    return {"ok": ok, "checks": checks}, 200 if ok else 503
