"""The ``chat`` blueprint, every route of it: JSON API, health check, avatars,
the widget's static files."""
import hashlib
from functools import wraps
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request
from flask_login import current_user

from . import errors, i18n, inputs, ops, search, services, transport, uploads, users
from .errors import ChatError
from .i18n import _l

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
    return {"user": users.to_dict(state(), current_user), "locale": i18n.get_locale()}


@bp.get("/api/users", endpoint="users")
@login_required_json
def find_users(uid):
    """Find users to chat with, by part of their name."""
    st = state()
    limit = inputs.query_int("limit", current_app.config["CHAT_USER_SEARCH_LIMIT"], 1, 100)
    q = request.args.get("q", "").strip()
    if "\x00" in q:  # no name holds it, and PostgreSQL refuses it in a query
        raise errors.invalid(_l("`q` must not contain NUL."))
    return {"users": services.find_users(st, uid, q, limit)}


@bp.get("/api/conversations")
@login_required_json
def conversations(uid):
    """The caller's conversations, newest first: without ``limit`` the v1.1
    list (direct ones only), with it a page of both kinds."""
    limit = inputs.query_int("limit", None, 1, 100)
    before = inputs.query_int("before", None, 0, 2**63 - 1)
    if limit is None and before is not None:
        limit = 50
    items, has_more = services.conversations(state(), uid, limit, before)
    if limit is None:
        return {"conversations": items}
    return {"conversations": items, "has_more": has_more}


def page_args():
    """A history page's ``(before, after, around, limit)``: at most one of the first three."""
    cfg = current_app.config
    limit = inputs.query_int("limit", cfg["CHAT_HISTORY_PAGE_SIZE"], 1,
                             cfg["CHAT_HISTORY_MAX_PAGE"])
    before, after, around = (inputs.query_int(n, low=0, high=2**63 - 1)
                             for n in ("before", "after", "around"))
    if around is not None and (before is not None or after is not None):
        raise errors.invalid(_l("Give only one of `before`, `after` and `around`."))
    if before is not None and after is not None:
        raise errors.invalid(_l("Give `before` or `after`, not both."))
    return before, after, around, limit


@bp.get("/api/conversations/<other_id>/messages")
@login_required_json
def messages(uid, other_id):
    """One page of history with another user, oldest to newest."""
    st = state()
    other = inputs.user_id_from_path(st, other_id)
    before, after, around, limit = page_args()
    rows, has_more, has_newer = services.history(st, uid, other, before, after, limit, around)
    found = users.load(st, [other])
    if other not in found:
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    online = other in services.online_for(st, uid, [other])
    answer = {"me": users.to_dict(st, current_user),
              "other": users.to_dict(st, found[other], online),
              "messages": rows, "has_more": has_more}
    if has_newer is not None:
        answer["has_newer"] = has_newer
    return answer


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
        return errors.response(errors.not_found(_l("No such user.")))
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


# -- contract v2.0: groups, edits, catch-up, blocks ------------------------

@bp.post("/api/groups")
@login_required_json
def create_group(uid):
    """A new group: the caller owns it; every member hears ``conversation``."""
    return {"conversation": services.create_group(state(), uid, inputs.json_body())}, 201


@bp.get("/api/groups/<cid>")
@login_required_json
def group(uid, cid):
    return {"conversation": services.get_group(state(), uid, services.id_from_path(cid))}


@bp.get("/api/groups/<cid>/users")
@login_required_json
def group_users(uid, cid):
    """Names for the ids a group's history shows (``?id=4&id=9``): its members
    and those who wrote in it, former members included."""
    st = state()
    cid = services.id_from_path(cid)
    ids = []
    for raw in request.args.getlist("id"):
        try:
            ids.append(inputs.user_id_from_path(st, raw))
        except ChatError:
            pass  # no user can have that id: nobody to name
    return {"users": services.group_users(st, uid, cid, ids)}


@bp.patch("/api/groups/<cid>")
@login_required_json
def rename_group(uid, cid):
    """Rename a group (its owner)."""
    conv = services.rename_group(state(), uid, services.id_from_path(cid), inputs.json_body())
    return {"conversation": conv}


@bp.post("/api/groups/<cid>/members")
@login_required_json
def add_members(uid, cid):
    """Add members (the owner); they see the whole history."""
    conv = services.add_members(state(), uid, services.id_from_path(cid), inputs.json_body())
    return {"conversation": conv}


@bp.delete("/api/groups/<cid>/members/<member_id>")
@login_required_json
def remove_member(uid, cid, member_id):
    """The owner removes a member; anyone removes themselves (leaves)."""
    st = state()
    cid = services.id_from_path(cid)
    try:
        member = inputs.user_id_from_path(st, member_id)
    except ChatError:
        raise errors.not_found(_l("No such member.")) from None
    services.remove_member(st, uid, cid, member)
    return "", 204


@bp.get("/api/groups/<cid>/messages")
@login_required_json
def group_messages(uid, cid):
    """One page of a group's history, oldest to newest (v1.1's paging rules)."""
    cid = services.id_from_path(cid)
    before, after, around, limit = page_args()
    conv, rows, has_more, has_newer = services.group_history(state(), uid, cid, before, after,
                                                             limit, around)
    answer = {"conversation": conv, "messages": rows, "has_more": has_more}
    if has_newer is not None:
        answer["has_newer"] = has_newer
    return answer


@bp.post("/api/groups/<cid>/read")
@login_required_json
def group_read(uid, cid):
    cid = services.id_from_path(cid)
    body = inputs.json_body()
    services.mark_group_read(state(), uid, cid, body.get("up_to"))
    return "", 204


@bp.patch("/api/messages/<mid>")
@login_required_json
def edit_message(uid, mid):
    """Change a message's text (its sender); members hear ``message-edited``."""
    message = services.edit_message(state(), uid, services.id_from_path(mid),
                                    inputs.json_body())
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
    since = inputs.query_int("since", None, 0, 2**63 - 1)
    limit = inputs.query_int("limit", 500, 1, 1000)
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
    services.block(st, uid, inputs.user_id_from_path(st, user_id))
    return "", 204


@bp.delete("/api/blocks/<user_id>")
@login_required_json
def unblock(uid, user_id):
    st = state()
    services.unblock(st, uid, inputs.user_id_from_path(st, user_id))
    return "", 204


# -- attachments and search (contract v2.0) ---------------------------------

@bp.post("/api/uploads")
@login_required_json
def create_upload(uid):
    """Upload one file (multipart, field ``file``); it can then be sent."""
    return {"attachment": uploads.receive(state(), uid)}, 201


@bp.delete("/api/uploads/<upload_id>")
@login_required_json
def delete_upload(uid, upload_id):
    """Take back an upload not sent yet: its file and thumbnail are removed."""
    inputs.json_body()  # a body that is not JSON is refused (415) before anything changes
    uploads.discard(state(), uid, upload_id)
    return "", 204


def _viewer():
    return users.user_id(state(), current_user) if current_user.is_authenticated else None


@bp.get("/files/<upload_id>")
def download(upload_id):
    """An uploaded file, to those who may see it; 404 to anyone else."""
    return uploads.serve(state(), _viewer(), upload_id)


@bp.get("/files/<upload_id>/thumb")
def thumbnail(upload_id):
    """An image's thumbnail (at most 320 px), to those who may see the image."""
    return uploads.serve(state(), _viewer(), upload_id, thumb=True)


@bp.get("/api/search")
@login_required_json
def search_messages(uid):
    """Messages of the caller's conversations that contain ``q``, newest first."""
    q = search.query_text()
    limit = inputs.query_int("limit", 20, 1, current_app.config["CHAT_HISTORY_MAX_PAGE"])
    before = inputs.query_int("before", None, 0, 2**63 - 1)
    conversation = inputs.query_int("conversation", None, 0, 2**63 - 1)
    results, has_more = search.search(state(), uid, q, limit, before, conversation)
    return {"results": results, "has_more": has_more}
