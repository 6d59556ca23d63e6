"""The ``chat`` blueprint: JSON API, avatars, the widget's static files."""
import hashlib
from functools import wraps
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from . import errors, services
from .errors import ChatError

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
        raise errors.unsupported("Send the body as application/json.")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise errors.invalid("The body must be a JSON object.")
    return data


def check_same_origin():
    """Writes from another origin are refused unless it is allowed."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and not state().origin_allowed(
            request.headers.get("Origin"), request.environ):
        raise errors.forbidden("Cross-origin request refused.")


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
        raise errors.invalid(f"`{name}` must be an integer.") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise errors.invalid(f"`{name}` must be between {low} and {high}.")
    return value


@bp.get("/api/me")
@login_required_json
def me(uid):
    """The logged-in user."""
    return {"user": state().user_dict(current_user)}


@bp.get("/api/users")
@login_required_json
def users(uid):
    """Find users to chat with, by part of their name."""
    st = state()
    limit = int_arg("limit", current_app.config["CHAT_USER_SEARCH_LIMIT"], 1, 100)
    q = request.args.get("q", "").strip()
    if "\x00" in q:  # no name holds it, and PostgreSQL refuses it in a query
        raise errors.invalid("`q` must not contain NUL.")
    return {"users": services.find_users(st, uid, q, limit)}


@bp.get("/api/conversations")
@login_required_json
def conversations(uid):
    """The caller's conversations, newest first: without ``limit`` the v1.1
    list (direct ones only), with it a page of both kinds."""
    limit = int_arg("limit", None, 1, 100)
    before = int_arg("before", None, 0, 2**63 - 1)
    if limit is None and before is not None:
        limit = 50
    items, has_more = services.conversations(state(), uid, limit, before)
    if limit is None:
        return {"conversations": items}
    return {"conversations": items, "has_more": has_more}


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
        raise errors.invalid("Give `before` or `after`, not both.")
    rows, has_more = services.history(st, uid, other, before, after, limit)
    users = st.load_users([other])
    if other not in users:
        raise errors.unknown_user(f"No user with id {other!r}.")
    online = other in services.online_for(st, uid, [other])
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
        return error_response(errors.not_found("No such user."))
    name = st.display_name(user) or "?"
    hue = int(hashlib.sha1(str(uid).encode()).hexdigest()[:6], 16) % 360
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
           f'<circle cx="20" cy="20" r="20" fill="hsl({hue},55%,48%)"/>'
           '<text x="20" y="26" font-size="18" text-anchor="middle" fill="#fff" '
           f'font-family="sans-serif">{escape(name[0].upper())}</text></svg>')
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


# -- contract v2.0: groups, edits, catch-up, blocks ------------------------

def page_args():
    cfg = current_app.config
    limit = int_arg("limit", cfg["CHAT_HISTORY_PAGE_SIZE"], 1, cfg["CHAT_HISTORY_MAX_PAGE"])
    before, after = (int_arg(n, low=0, high=2**63 - 1) for n in ("before", "after"))
    if before is not None and after is not None:
        raise errors.invalid("Give `before` or `after`, not both.")
    return before, after, limit


@bp.post("/api/groups")
@login_required_json
def create_group(uid):
    """A new group: the caller owns it; every member hears ``conversation``."""
    return {"conversation": services.create_group(state(), uid, json_body())}, 201


@bp.get("/api/groups/<cid>")
@login_required_json
def group(uid, cid):
    return {"conversation": services.get_group(state(), uid, services.id_from_path(cid))}


@bp.patch("/api/groups/<cid>")
@login_required_json
def rename_group(uid, cid):
    """Rename a group (its owner)."""
    conv = services.rename_group(state(), uid, services.id_from_path(cid), json_body())
    return {"conversation": conv}


@bp.post("/api/groups/<cid>/members")
@login_required_json
def add_members(uid, cid):
    """Add members (the owner); they see the whole history."""
    conv = services.add_members(state(), uid, services.id_from_path(cid), json_body())
    return {"conversation": conv}


@bp.delete("/api/groups/<cid>/members/<member_id>")
@login_required_json
def remove_member(uid, cid, member_id):
    """The owner removes a member; anyone removes themselves (leaves)."""
    st = state()
    cid = services.id_from_path(cid)
    try:
        member = st.user_id_from_path(member_id)
    except ChatError:
        raise errors.not_found("No such member.") from None
    services.remove_member(st, uid, cid, member)
    return "", 204


@bp.get("/api/groups/<cid>/messages")
@login_required_json
def group_messages(uid, cid):
    """One page of a group's history, oldest to newest (v1.1's paging rules)."""
    cid = services.id_from_path(cid)
    before, after, limit = page_args()
    conv, rows, has_more = services.group_history(state(), uid, cid, before, after, limit)
    return {"conversation": conv, "messages": rows, "has_more": has_more}


@bp.post("/api/groups/<cid>/read")
@login_required_json
def group_read(uid, cid):
    cid = services.id_from_path(cid)
    body = json_body()
    services.mark_group_read(state(), uid, cid, body.get("up_to"))
    return "", 204


@bp.patch("/api/messages/<mid>")
@login_required_json
def edit_message(uid, mid):
    """Change a message's text (its sender); members hear ``message-edited``."""
    message = services.edit_message(state(), uid, services.id_from_path(mid), json_body())
    return {"message": message}


@bp.delete("/api/messages/<mid>")
@login_required_json
def delete_message(uid, mid):
    """Delete a message (its sender, or a group's owner): a tombstone stays."""
    services.delete_message(state(), uid, services.id_from_path(mid))
    return "", 204


@bp.get("/api/sync")
@login_required_json
def sync(uid):
    """Every change after ``since`` in the caller's conversations, by rev."""
    since = int_arg("since", None, 0, 2**63 - 1)
    limit = int_arg("limit", 500, 1, 1000)
    messages, rev, has_more = services.sync(state(), uid, since, limit)
    return {"messages": messages, "rev": rev, "has_more": has_more}


@bp.get("/api/blocks")
@login_required_json
def blocks(uid):
    return {"users": services.list_blocks(state(), uid)}


@bp.put("/api/blocks/<user_id>")
@login_required_json
def block(uid, user_id):
    st = state()
    services.block(st, uid, st.user_id_from_path(user_id))
    return "", 204


@bp.delete("/api/blocks/<user_id>")
@login_required_json
def unblock(uid, user_id):
    st = state()
    services.unblock(st, uid, st.user_id_from_path(user_id))
    return "", 204
