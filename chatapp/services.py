"""The one code path behind HTTP and Socket.IO: validate, act (commit), notify.

Every function takes the per-app ``ChatState`` and plain values, raises
``ChatError`` on bad input, and pushes events only after its commit.

Every message belongs to a conversation: a direct one (two users, made with
its first message, addressed by the other user's id as in contract v1.1) or a
group. Events go to the user rooms of the conversation's members as they are
at that moment, so a member removed from a group hears nothing more, on every
process, without any room to leave.
"""
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import errors, inputs, realtime, users
from .i18n import _l
from .models import message_dict, storable, utcnow

DIRECT, GROUP = "direct", "group"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_conversation_id(value, field="conversation"):
    if not _is_int(value) or not 0 <= value < 2**63:
        raise errors.invalid(_l("`%(field)s` must be a conversation id.", field=field))
    return value


def id_from_path(value):
    """A conversation or message id from a URL: anything else is simply not found."""
    try:
        number = int(value)
    except ValueError:
        raise errors.not_found() from None
    if not 0 <= number < 2**63:
        raise errors.not_found()
    return number


def _object(data):
    if not isinstance(data, dict):
        raise errors.invalid(_l("The payload must be an object."))
    return data


def _content(state, data, required=True):
    """``content`` of a payload, stripped and checked as ``chat-to`` does."""
    content = data.get("content")
    if not isinstance(content, str) or not storable(content):
        raise errors.invalid(_l("`content` must be a string of valid characters."))
    content = content.strip()
    if not content and required:
        raise errors.empty()
    if len(content) > state.max_length:
        raise errors.too_long(state.max_length)
    return content


def _title(data):
    title = data.get("title")
    if not isinstance(title, str) or not storable(title):
        raise errors.invalid(_l("`title` must be a string."))
    title = title.strip()
    if not 1 <= len(title) <= 100:
        raise errors.invalid(_l("A title is 1 to 100 characters."))
    return title


# -- blocks --------------------------------------------------------------

def blocked_between(state, a, b, conn=None):
    """Whether ``a`` blocked ``b`` or ``b`` blocked ``a``."""
    bt = state.tables["block"]
    q = sa.select(bt.c.blocker_id).where(sa.or_(
        sa.and_(bt.c.blocker_id == a, bt.c.blocked_id == b),
        sa.and_(bt.c.blocker_id == b, bt.c.blocked_id == a))).limit(1)
    if conn is not None:
        return conn.execute(q).first() is not None
    with state.engine.connect() as c:
        return c.execute(q).first() is not None


def blockers_of(state, user_id, conn=None):
    """Users who blocked ``user_id``: to them, they look offline."""
    bt = state.tables["block"]
    q = sa.select(bt.c.blocker_id).where(bt.c.blocked_id == user_id)
    if conn is not None:
        return set(conn.execute(q).scalars())
    with state.engine.connect() as c:
        return set(c.execute(q).scalars())


def blocked_by(state, user_id, conn=None):
    """Users ``user_id`` blocked."""
    bt = state.tables["block"]
    q = sa.select(bt.c.blocked_id).where(bt.c.blocker_id == user_id)
    if conn is not None:
        return set(conn.execute(q).scalars())
    with state.engine.connect() as c:
        return set(c.execute(q).scalars())


def online_for(state, viewer, user_ids, blockers=None):
    """Who of ``user_ids`` ``viewer`` sees online: a blocker looks offline."""
    online = state.presence.online_among(list(user_ids))
    if online:
        online -= blockers if blockers is not None else blockers_of(state, viewer)
    return online


def list_blocks(state, me):
    ids = sorted(blocked_by(state, me), key=str)
    found = users.load(state, ids)
    return [users.to_dict(state, found[u]) for u in ids if u in found]


def block(state, me, other):
    if other == me:
        raise errors.invalid(_l("You cannot block yourself."))
    if not users.exists(state, other):
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    bt = state.tables["block"]
    try:
        with state.engine.begin() as conn:
            conn.execute(bt.insert().values(blocker_id=me, blocked_id=other,
                                            created_at=utcnow()))
    except IntegrityError:
        return  # already blocked
    if state.presence.is_online(me) and other in partners(state, me):
        realtime.push(state, (other,), "presence", {"user_id": me, "online": False})


def unblock(state, me, other):
    if not users.exists(state, other):
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    bt = state.tables["block"]
    with state.engine.begin() as conn:
        gone = conn.execute(bt.delete().where(bt.c.blocker_id == me,
                                              bt.c.blocked_id == other)).rowcount
    if gone and state.presence.is_online(me) and other in partners(state, me):
        realtime.push(state, (other,), "presence", {"user_id": me, "online": True})


# -- conversations -------------------------------------------------------

def _pair(a, b):
    return (a, b) if (type(a), a) <= (type(b), b) else (b, a)


def direct_conversation(state, a, b, create=False):
    """The id of the direct conversation of ``a`` and ``b`` (``None`` if none)."""
    key = _pair(a, b)
    cache = state.direct_ids
    if key in cache:
        return cache[key]
    ct = state.tables["conversation"]
    # Both orders: a database's string ordering may differ from Python's.
    q = sa.select(ct.c.id).where(sa.or_(
        sa.and_(ct.c.user_low == key[0], ct.c.user_high == key[1]),
        sa.and_(ct.c.user_low == key[1], ct.c.user_high == key[0]))).limit(1)
    with state.engine.connect() as conn:
        found = conn.execute(q).scalar()
    if found is None and create:
        mt = state.tables["member"]
        now = utcnow()
        try:
            with state.engine.begin() as conn:
                found = conn.execute(ct.insert().values(
                    kind=DIRECT, user_low=key[0], user_high=key[1], created_at=now,
                    sort_floor=0)).inserted_primary_key[0]
                conn.execute(mt.insert(), [
                    {"conversation_id": found, "user_id": u, "joined_at": now}
                    for u in dict.fromkeys(key)])
        except IntegrityError:  # made by another send meanwhile
            with state.engine.connect() as conn:
                found = conn.execute(q).scalar()
    if found is not None:
        if len(cache) > 100_000:
            cache.clear()
        cache[key] = found
    return found


def _conversation_row(conn, state, cid):
    ct = state.tables["conversation"]
    return conn.execute(sa.select(ct).where(ct.c.id == cid)).first()


def member_ids(conn, state, cid):
    mt = state.tables["member"]
    return list(conn.execute(sa.select(mt.c.user_id).where(mt.c.conversation_id == cid)
                             .order_by(mt.c.joined_at, mt.c.user_id)).scalars())


def _membership(state, me, cid, kind=None, conn=None):
    """``(conversation row, member ids)`` of a conversation ``me`` is in,
    else ``not_found`` (never saying whether it exists)."""
    if conn is None:
        with state.engine.connect() as conn:
            return _membership(state, me, cid, kind, conn)
    row = _conversation_row(conn, state, cid)
    members = member_ids(conn, state, cid) if row is not None else []
    if row is None or me not in members or (kind is not None and row.kind != kind) \
            or (row.kind == GROUP and not state.groups_enabled):
        raise errors.not_found(_l("No such conversation."))
    return row, members


def _other_of(row, me):
    return row.user_high if row.user_low == me else row.user_low


def _check_other(state, me, other, to_self):
    """``other`` must be a real user, not ``me``, whom ``me`` may reach."""
    if other == me:
        raise errors.invalid(to_self)
    if not users.exists(state, other):
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    if not users.can_message(state, me, other):
        raise errors.forbidden(_l("You may not message this user."))


def _target(state, me, data, to_field, to_self):
    """Where a socket payload points: ``("direct", other, conversation id or
    None, [me, other])`` or ``("group", None, id, members)``."""
    has_to, has_conv = data.get(to_field) is not None, data.get("conversation") is not None
    if has_to and has_conv:
        raise errors.invalid(_l("Give `%(field)s` or `conversation`, not both.", field=to_field))
    if has_conv:
        cid = parse_conversation_id(data["conversation"])
        row, members = _membership(state, me, cid)
        if row.kind == GROUP:
            return GROUP, None, cid, members
        other = _other_of(row, me)
        _check_other(state, me, other, to_self)
        return DIRECT, other, cid, [me, other]
    other = inputs.user_id(state, data.get(to_field), to_field)
    _check_other(state, me, other, to_self)
    return DIRECT, other, None, [me, other]


# -- sending -------------------------------------------------------------

def send_message(state, sender, data, sid=None):
    """Store a ``chat-to`` payload and deliver it; return the ack body."""
    _object(data)
    has_to, has_conv = data.get("to") is not None, data.get("conversation") is not None
    if has_to and has_conv:
        raise errors.invalid(_l("Give `%(field)s` or `conversation`, not both.", field="to"))
    if has_conv:
        cid = parse_conversation_id(data["conversation"])
    else:
        inputs.user_id(state, data.get("to"), "to")
    content = data.get("content")
    if not isinstance(content, str) or not storable(content):
        raise errors.invalid(_l("`content` must be a string of valid characters."))
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str)
                                  or not 0 < len(client_id) <= 64 or not storable(client_id)):
        raise errors.invalid(_l("`client_id` must be a string of 1 to 64 characters."))
    reply_to = data.get("reply_to")
    if reply_to is not None:
        inputs.message_id(reply_to, "reply_to")
    upload_ids = state.uploads.parse_ids(data.get("attachments"))
    content = _content(state, data, required=not upload_ids)
    kind, other, cid, members = _target(state, sender, data, "to", _l("You cannot message yourself."))
    # A block between direct users is checked where the message is stored
    # (one query per group commit, not one per send).
    if client_id is not None and (state.limiter.limit or upload_ids):
        # The store answers a resend by itself; asking first keeps a resend
        # from spending the sender's rate limit, and from being refused for
        # naming uploads its first send already carries.
        row = state.store.find_by_client_id(sender, client_id)
        if row is not None:
            return _ack(state, sender, row, members, duplicate=True)
    reply = None
    if reply_to is not None:
        if cid is None:  # addressed by user id: the pair's conversation, if any yet
            cid = direct_conversation(state, sender, other)
        reply = _reply_target(state, reply_to, cid)
    if not state.limiter.allow(sender):
        raise errors.rate_limited()
    if cid is None:
        cid = direct_conversation(state, sender, other)
        if cid is None:  # the first message: no empty conversation for a refused one
            if blocked_between(state, sender, other):
                raise errors.blocked()
            cid = direct_conversation(state, sender, other, create=True)
    claim, files, link = None, [], None
    if upload_ids:
        claim, files = state.uploads.claim(sender, upload_ids)
        link = state.uploads.linker(claim, upload_ids)
    try:
        row, created = state.store.insert({
            "conversation_id": cid, "sender_id": sender, "recipient_id": other,
            "content": content, "client_id": client_id, "reply_to_id": reply_to},
            check_blocks=kind == DIRECT, link=link)
    finally:
        if claim is not None:
            state.uploads.release(claim)  # only what this send did not use
    if not created:
        return _ack(state, sender, row, members, duplicate=True)
    ack = _ack(state, sender, row, members, duplicate=False, reply=reply, attachments=files)
    if kind == GROUP:
        with state.engine.connect() as conn:  # as they are now the message is stored
            members = member_ids(conn, state, cid)
    realtime.push(state, members, "message", ack["message"], skip_sid=sid)
    return ack


def _reply_target(state, reply_to, cid):
    """The message quoted by a reply: one in the same conversation, else ``invalid``."""
    t = state.table
    with state.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == reply_to)).first()
    if row is None or cid is None or row.conversation_id != cid:
        raise errors.invalid(_l("`reply_to` must be a message of this conversation."))
    return row


def _ack(state, sender, row, members, duplicate, reply=None, attachments=None):
    if reply is None and row.reply_to_id is not None:
        reply = _rows_by_id(state, [row.reply_to_id]).get(row.reply_to_id)
    if attachments is None:
        with state.engine.connect() as conn:
            attachments = state.uploads.for_messages(conn, [row.id]).get(row.id)
    others = [m for m in members if m != sender]
    if row.recipient_id is not None:
        delivered = state.presence.is_online(row.recipient_id)
    else:
        delivered = bool(state.presence.online_among(others))
    ack = {"ok": True, "message": message_dict(row, reply, attachments),
           "delivered": delivered}
    if duplicate:
        ack["duplicate"] = True
    return ack


def _rows_by_id(state, ids, conn=None):
    ids = [i for i in dict.fromkeys(ids) if i is not None]
    if not ids:
        return {}
    t = state.table
    q = sa.select(t).where(t.c.id.in_(ids))
    if conn is not None:
        return {r.id: r for r in conn.execute(q)}
    with state.engine.connect() as c:
        return {r.id: r for r in c.execute(q)}


def _dicts(state, conn, rows):
    """Message objects of ``rows``, their quoted messages read in one query."""
    replies = _rows_by_id(state, [r.reply_to_id for r in rows], conn)
    files = state.uploads.for_messages(conn, [r.id for r in rows])
    return [message_dict(r, replies.get(r.reply_to_id), files.get(r.id)) for r in rows]


# -- edit and delete -----------------------------------------------------

def _own_message(state, me, message_id):
    """The message row and its conversation's members, for a member; else not_found."""
    t = state.table
    with state.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == message_id)).first()
        conv = row is not None and _conversation_row(conn, state, row.conversation_id)
        members = member_ids(conn, state, row.conversation_id) if conv else []
    if not conv or me not in members or (conv.kind == GROUP and not state.groups_enabled):
        raise errors.not_found(_l("No such message."))
    return row, conv, members


def edit_message(state, me, message_id, data, sid=None):
    """Change a message's text (its sender only); return the Message."""
    message_id = inputs.message_id(message_id, "id")
    _object(data)
    content = _content(state, data)
    row, conv, members = _own_message(state, me, message_id)
    if row.sender_id != me:
        raise errors.forbidden(_l("Only its sender may edit a message."))
    if row.deleted:
        raise errors.invalid(_l("A deleted message cannot be edited."))
    if state.edit_window and utcnow() - row.sent_at > timedelta(seconds=state.edit_window):
        raise errors.forbidden(_l("This message can no longer be edited."))
    now = utcnow()
    state.store.change(message_id, {"content": content, "edited_at": now})
    t = state.table
    with state.engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == message_id)).first()
        message = _dicts(state, conn, [row])[0]
    realtime.push(state, members, "message-edited", message, skip_sid=sid)
    return message


def delete_message(state, me, message_id, sid=None):
    """Turn a message into a tombstone: its sender, or the owner of its group."""
    message_id = inputs.message_id(message_id, "id")
    row, conv, members = _own_message(state, me, message_id)
    if row.sender_id != me and not (conv.kind == GROUP and conv.owner_id == me):
        raise errors.forbidden(_l("Only its sender (or the group's owner) may delete a message."))
    if row.deleted:
        return
    rev = state.store.tombstone([message_id])[message_id]
    realtime.push(state, members, "message-deleted",
                  {"id": message_id, "conversation": row.conversation_id, "rev": rev},
                  skip_sid=sid)


# -- reading -------------------------------------------------------------

def mark_read(state, reader, other, up_to):
    """Mark ``other``'s messages to ``reader`` read up to ``up_to``; emit ``read``."""
    up_to = inputs.message_id(up_to, "up_to")
    _check_other(state, reader, other, _l("You cannot read messages from yourself."))
    t = state.table
    with state.engine.begin() as conn:
        conn.execute(
            t.update()
            .where(t.c.sender_id == other, t.c.recipient_id == reader,
                   t.c.id <= up_to, t.c.read_at.is_(None))
            .values(read_at=utcnow())
        )
    cid = direct_conversation(state, reader, other)
    realtime.push(state, (reader, other), "read",
                  {"by": reader, "with": other, "conversation": cid, "up_to": up_to})


def mark_group_read(state, reader, cid, up_to):
    """Remember how far ``reader`` read a group; emit ``read`` to its members."""
    up_to = inputs.message_id(up_to, "up_to")
    row, members = _membership(state, reader, cid, GROUP)
    mt = state.tables["member"]
    with state.engine.begin() as conn:
        conn.execute(mt.update().where(
            mt.c.conversation_id == cid, mt.c.user_id == reader,
            sa.or_(mt.c.last_read_id.is_(None), mt.c.last_read_id < up_to))
            .values(last_read_id=up_to))
    realtime.push(state, members, "read", {"by": reader, "conversation": cid, "up_to": up_to})


def read_event(state, reader, data):
    """The socket ``read``: ``with`` (a user) or ``conversation``."""
    _object(data)
    if data.get("conversation") is not None and data.get("with") is None:
        cid = parse_conversation_id(data["conversation"])
        row, _ = _membership(state, reader, cid)
        if row.kind == GROUP:
            return mark_group_read(state, reader, cid, data.get("up_to"))
        return mark_read(state, reader, _other_of(row, reader), data.get("up_to"))
    if data.get("conversation") is not None:
        raise errors.invalid(_l("Give `%(field)s` or `conversation`, not both.", field="with"))
    other = inputs.user_id(state, data.get("with"), "with")
    return mark_read(state, reader, other, data.get("up_to"))


def typing(state, sender, data):
    """Forward a typing notice to the other user, or to a group's members."""
    _object(data)
    kind, other, cid, members = _target(state, sender, data, "to", _l("You cannot message yourself."))
    if kind == DIRECT:
        if blocked_between(state, sender, other):
            raise errors.blocked()
        if cid is None:
            cid = direct_conversation(state, sender, other)
        realtime.push(state, (other,), "typing", {"from": sender, "conversation": cid})
        return
    skip = blocked_by(state, sender) | {sender}
    others = [m for m in members if m not in skip]
    if others:
        realtime.push(state, others, "typing", {"from": sender, "conversation": cid})


def _page(state, cid, before, after, limit, conn=None):
    if conn is None:
        with state.engine.connect() as conn:
            return _page(state, cid, before, after, limit, conn)
    t = state.table
    newer = after is not None
    q = sa.select(t).where(t.c.conversation_id == cid)
    if newer:
        q = q.where(t.c.id > after).order_by(t.c.id.asc())
    else:
        if before is not None:
            q = q.where(t.c.id < before)
        q = q.order_by(t.c.id.desc())
    rows = conn.execute(q.limit(limit + 1)).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not newer:
        rows.reverse()
    return _dicts(state, conn, rows), has_more


def _around(state, cid, around, limit, conn):
    """The page of up to ``limit`` messages centred on message ``around``
    (``not_found`` unless it is in conversation ``cid``), oldest first, with
    whether older and newer messages remain: two range scans of the
    conversation index, at most ``limit + 1`` rows each."""
    t = state.table
    newer = conn.execute(sa.select(t).where(t.c.conversation_id == cid, t.c.id >= around)
                         .order_by(t.c.id.asc()).limit(limit + 1)).all()
    if not newer or newer[0].id != around:
        raise errors.not_found(_l("No such message."))
    older = conn.execute(sa.select(t).where(t.c.conversation_id == cid, t.c.id < around)
                         .order_by(t.c.id.desc()).limit(limit)).all()
    room = limit - 1  # beside the message itself
    # Half each way; a side with fewer leaves its room to the other.
    n_old = min(len(older), max(room // 2, room - (len(newer) - 1)))
    n_new = min(len(newer) - 1, room - n_old)
    rows = older[:n_old][::-1] + newer[:n_new + 1]
    return _dicts(state, conn, rows), len(older) > n_old, len(newer) - 1 > n_new


def history(state, me, other, before=None, after=None, limit=None, around=None):
    """One page of the conversation of ``me`` and ``other``, oldest first:
    ``(messages, has_more, has_newer)``, ``has_newer`` only with ``around``
    (``None`` otherwise)."""
    if other != me and not users.exists(state, other):
        raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(other)))
    cid = direct_conversation(state, me, other)
    if around is not None:
        if cid is None:
            raise errors.not_found(_l("No such message."))
        with state.engine.connect() as conn:
            return _around(state, cid, around, limit, conn)
    if cid is None:
        return [], False, None
    return (*_page(state, cid, before, after, limit), None)


def group_history(state, me, cid, before=None, after=None, limit=None, around=None):
    """``(conversation, messages, has_more, has_newer)``, as ``history``."""
    # One connection for the whole answer; the newest page already holds the
    # conversation's last message.
    with state.engine.connect() as conn:
        row, members = _membership(state, me, cid, GROUP, conn)
        if around is not None:
            rows, has_more, has_newer = _around(state, cid, around, limit, conn)
            newest = None if has_newer or not rows else rows[-1]
        else:
            rows, has_more = _page(state, cid, before, after, limit, conn)
            has_newer = None
            newest = rows[-1] if rows and before is None and after is None else None
        view = conversation_views(state, row, members, [me], conn, newest)[me]
    return view, rows, has_more, has_newer


# -- conversation lists ----------------------------------------------------

def _listing(state, me, directs_only, only=None):
    """Every conversation of ``me`` (or those of ``only``, ids) with its sort
    key, last message id and unread count."""
    t, ct, mt = state.table, state.tables["conversation"], state.tables["member"]
    last = (sa.select(sa.func.max(t.c.id)).where(t.c.conversation_id == ct.c.id)
            .scalar_subquery())
    m2 = t.alias("m2")
    other = sa.case((ct.c.user_low == me, ct.c.user_high), else_=ct.c.user_low)
    unread_direct = (sa.select(sa.func.count()).select_from(m2).where(
        m2.c.recipient_id == me, m2.c.sender_id == other, m2.c.read_at.is_(None),
        m2.c.deleted == sa.false()).scalar_subquery())
    unread_group = (sa.select(sa.func.count()).select_from(m2).where(
        m2.c.conversation_id == ct.c.id,
        m2.c.id > sa.func.coalesce(mt.c.last_read_id, 0),
        m2.c.sender_id != me, m2.c.deleted == sa.false()).scalar_subquery())
    unread = sa.case((ct.c.kind == DIRECT, unread_direct), else_=unread_group)
    q = (sa.select(ct, last.label("last_id"), unread.label("unread"))
         .join(mt, mt.c.conversation_id == ct.c.id).where(mt.c.user_id == me))
    if directs_only or not state.groups_enabled:
        q = q.where(ct.c.kind == DIRECT)
    if only is not None:
        q = q.where(ct.c.id.in_(only))
    with state.engine.connect() as conn:
        rows = [r for r in conn.execute(q) if r.kind == GROUP or r.last_id is not None]
    rows.sort(key=lambda r: (r.last_id if r.last_id is not None else r.sort_floor, r.id),
              reverse=True)
    return rows


def conversations(state, me, limit=None, before=None):
    """``me``'s conversations, newest activity first.

    Without ``limit``: contract v1.1's list (direct conversations only, each
    with ``id`` and ``kind`` added). With it: one page of both kinds and
    whether more follow ``before`` (a conversation id, the previous page's last).
    """
    rows = _listing(state, me, directs_only=limit is None)
    has_more = False
    if limit is not None:
        if before is not None:
            at = next((n for n, r in enumerate(rows) if r.id == before), None)
            if at is None:
                raise errors.not_found(_l("No such conversation."))
            rows = rows[at + 1:]
        has_more = len(rows) > limit
        rows = rows[:limit]
    return _conversation_items(state, me, rows, v2=limit is not None), has_more


def conversation_items(state, me, ids):
    """``{id: Conversation}`` of those of ``ids`` that ``me`` is in."""
    rows = _listing(state, me, directs_only=False, only=list(ids))
    return {item["id"]: item for item in _conversation_items(state, me, rows, v2=True)}


def _conversation_items(state, me, rows, v2):
    """Conversation objects of ``_listing`` rows, as ``me`` sees them."""
    with state.engine.connect() as conn:
        lasts = _rows_by_id(state, [r.last_id for r in rows], conn)
        quoted = _rows_by_id(state, [m.reply_to_id for m in lasts.values()], conn)
        files = state.uploads.for_messages(conn, list(lasts))
        group_ids = [r.id for r in rows if r.kind == GROUP]
        mt = state.tables["member"]
        members = {}
        if group_ids:
            for cid, uid in conn.execute(
                    sa.select(mt.c.conversation_id, mt.c.user_id)
                    .where(mt.c.conversation_id.in_(group_ids))
                    .order_by(mt.c.joined_at, mt.c.user_id)):
                members.setdefault(cid, []).append(uid)
        blockers = blockers_of(state, me, conn)
    wanted = [_other_of(r, me) for r in rows if r.kind == DIRECT]
    wanted += [u for ids in members.values() for u in ids]
    found = users.load(state, wanted)
    online = online_for(state, me, found, blockers)
    out = []
    for r in rows:
        last = lasts.get(r.last_id)
        last_dict = message_dict(last, quoted.get(last.reply_to_id),
                                 files.get(last.id)) if last else None
        if r.kind == DIRECT:
            other = _other_of(r, me)
            user = found.get(other)
            if user is None:
                continue  # the other account is gone
            item = {"id": r.id, "kind": DIRECT, "other": users.to_dict(state, user, other in online),
                    "last_message": last_dict, "unread": r.unread}
            if v2:
                item["title"] = None
        else:
            item = {"id": r.id, "kind": GROUP, "title": r.title, "owner": r.owner_id,
                    "members": [users.to_dict(state, found[u], u in online)
                                for u in members.get(r.id, []) if u in found],
                    "last_message": last_dict, "unread": r.unread}
        out.append(item)
    return out


def conversation_dict(state, me, row, members):
    """A group as the contract's Conversation object, as ``me`` sees it."""
    return conversation_views(state, row, members, [me])[me]


def conversation_views(state, row, members, viewers, conn=None, last_dict=None):
    """``{viewer: Conversation}``: one group as each viewer sees it (their
    unread count; members who blocked them shown offline). ``last_dict``: the
    conversation's last message, when the caller already has it."""
    if conn is None:
        with state.engine.connect() as conn:
            return conversation_views(state, row, members, viewers, conn, last_dict)
    t, mt, bt = state.table, state.tables["member"], state.tables["block"]
    if last_dict is None:
        last = conn.execute(sa.select(t).where(t.c.conversation_id == row.id)
                            .order_by(t.c.id.desc()).limit(1)).first()
        last_dict = _dicts(state, conn, [last])[0] if last else None
    m = t.alias("m")
    unread = dict(conn.execute(
        sa.select(mt.c.user_id, sa.func.count(m.c.id))
        .join(m, sa.and_(m.c.conversation_id == mt.c.conversation_id,
                         m.c.id > sa.func.coalesce(mt.c.last_read_id, 0),
                         m.c.sender_id != mt.c.user_id, m.c.deleted == sa.false()))
        .where(mt.c.conversation_id == row.id, mt.c.user_id.in_(viewers))
        .group_by(mt.c.user_id)).all())
    blocks = conn.execute(sa.select(bt.c.blocked_id, bt.c.blocker_id).where(
        bt.c.blocked_id.in_(viewers), bt.c.blocker_id.in_(members))).all()
    found = users.load(state, members)
    online = state.presence.online_among(list(found))
    listed = [u for u in members if u in found]
    out = {}
    for viewer in viewers:
        hidden = {blocker for blocked, blocker in blocks if blocked == viewer}
        out[viewer] = {
            "id": row.id, "kind": GROUP, "title": row.title, "owner": row.owner_id,
            "members": [users.to_dict(state, found[u], u in online and u not in hidden)
                        for u in listed],
            "last_message": last_dict, "unread": unread.get(viewer, 0)}
    return out


# -- groups ----------------------------------------------------------------

def _groups_on(state):
    if not state.groups_enabled:
        raise errors.not_found(_l("Group conversations are turned off on this site."))


def _new_members(state, me, value, present=()):
    """Validated ids of users to add: existing, reachable, not blocking ``me``."""
    if not isinstance(value, list):
        raise errors.invalid(_l("`members` must be a list of user ids."))
    if len(value) > 10 * state.group_max_members:
        raise errors.invalid(_l("A group has at most %(n)s members.", n=state.group_max_members))
    ids = []
    for v in value:
        inputs.user_id(state, v, "members")
        if v != me and v not in present and v not in ids:
            ids.append(v)
    return ids


def _check_new_members(state, me, ids, total):
    if total > state.group_max_members:
        raise errors.invalid(_l("A group has at most %(n)s members.", n=state.group_max_members))
    for u in ids:
        if not users.exists(state, u):
            raise errors.unknown_user(_l("No user with id %(id)s.", id=repr(u)))
    for u in ids:
        if not users.can_message(state, me, u):
            raise errors.forbidden(_l("You may not message one of these users."))
    bt = state.tables["block"]
    if ids:
        with state.engine.connect() as conn:
            blockers = set(conn.execute(sa.select(bt.c.blocker_id).where(
                bt.c.blocked_id == me, bt.c.blocker_id.in_(ids))).scalars())
        if blockers:
            raise errors.blocked(_l("One of these users blocked you."))


def create_group(state, me, data):
    _groups_on(state)
    _object(data)
    title = _title(data)
    ids = _new_members(state, me, data.get("members"))
    if not ids:
        raise errors.invalid(_l("Name at least one other member."))
    _check_new_members(state, me, ids, len(ids) + 1)
    ct, mt, t = state.tables["conversation"], state.tables["member"], state.table
    now = utcnow()
    with state.engine.begin() as conn:
        floor = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0))).scalar()
        cid = conn.execute(ct.insert().values(
            kind=GROUP, title=title, owner_id=me, created_at=now,
            sort_floor=floor)).inserted_primary_key[0]
        # The owner joins first; the others a millisecond later, in the order named.
        conn.execute(mt.insert(), [
            {"conversation_id": cid, "user_id": u,
             "joined_at": now + timedelta(milliseconds=1 if n else 0)}
            for n, u in enumerate([me] + ids)])
    return _announce(state, me, cid)


def _announce(state, me, cid):
    """Send ``conversation`` to every member; return the caller's view of it."""
    with state.engine.connect() as conn:
        row = _conversation_row(conn, state, cid)
        members = member_ids(conn, state, cid)
    views = conversation_views(state, row, members, members)
    for u, view in views.items():
        realtime.push(state, (u,), "conversation", view)
    return views.get(me)


def get_group(state, me, cid):
    _groups_on(state)
    row, members = _membership(state, me, cid, GROUP)
    return conversation_dict(state, me, row, members)


#: Most user ids one ``GET /groups/<id>/users`` may ask about.
GROUP_USERS_MAX = 100


def group_users(state, me, cid, ids):
    """The Users among ``ids`` whom a member of group ``cid`` meets in it: its
    members (with ``online``) and anyone who wrote a message there, former
    members included (without ``online``: they share nothing with the caller
    through this group any more). Others, and accounts that no longer
    exist, are left out."""
    _groups_on(state)
    ids = list(dict.fromkeys(ids))
    if len(ids) > GROUP_USERS_MAX:
        raise errors.invalid(_l("Ask about at most %(count)s users at once.",
                                count=GROUP_USERS_MAX))
    t = state.table
    with state.engine.connect() as conn:
        _, members = _membership(state, me, cid, GROUP, conn)
        present = set(members)
        former = [u for u in ids if u not in present]
        wrote = set(conn.execute(sa.select(t.c.sender_id).distinct().where(
            t.c.conversation_id == cid, t.c.sender_id.in_(former))).scalars()) if former else set()
    wanted = [u for u in ids if u in present or u in wrote]
    found = users.load(state, wanted)
    online = online_for(state, me, [u for u in found if u in present])
    return [users.to_dict(state, found[u], u in online) if u in present
            else users.to_dict(state, found[u]) for u in wanted if u in found]


def rename_group(state, me, cid, data):
    _groups_on(state)
    row, members = _membership(state, me, cid, GROUP)
    _object(data)
    title = _title(data)
    if row.owner_id != me:
        raise errors.forbidden(_l("Only the group's owner may rename it."))
    ct = state.tables["conversation"]
    with state.engine.begin() as conn:
        conn.execute(ct.update().where(ct.c.id == cid).values(title=title))
    return _announce(state, me, cid)


def add_members(state, me, cid, data):
    _groups_on(state)
    row, members = _membership(state, me, cid, GROUP)
    _object(data)
    ids = _new_members(state, me, data.get("members"), present=set(members))
    if row.owner_id != me:
        raise errors.forbidden(_l("Only the group's owner may add members."))
    _check_new_members(state, me, ids, len(members) + len(ids))
    if ids:
        mt = state.tables["member"]
        now = utcnow()
        try:
            with state.engine.begin() as conn:
                conn.execute(mt.insert(), [{"conversation_id": cid, "user_id": u,
                                            "joined_at": now} for u in ids])
        except IntegrityError:
            raise errors.invalid(_l("Someone was added meanwhile; try again.")) from None
    return _announce(state, me, cid)


def remove_member(state, me, cid, user_id):
    """The owner removes anyone; anyone removes themselves (leaves)."""
    _groups_on(state)
    row, members = _membership(state, me, cid, GROUP)
    if user_id != me and row.owner_id != me:
        raise errors.forbidden(_l("Only the group's owner may remove members."))
    if user_id not in members:
        raise errors.not_found(_l("No such member."))
    ct, mt = state.tables["conversation"], state.tables["member"]
    with state.engine.begin() as conn:
        conn.execute(mt.delete().where(mt.c.conversation_id == cid, mt.c.user_id == user_id))
        if row.owner_id == user_id:
            heir = conn.execute(sa.select(mt.c.user_id).where(mt.c.conversation_id == cid)
                                .order_by(mt.c.joined_at, mt.c.user_id).limit(1)).scalar()
            conn.execute(ct.update().where(ct.c.id == cid).values(owner_id=heir))
    realtime.push(state, (user_id,), "conversation-removed", {"id": cid})
    if len(members) > 1:
        _announce(state, me if me != user_id else None, cid)


# -- catch-up --------------------------------------------------------------

def my_conversation_ids(state, me, conn):
    mt, ct = state.tables["member"], state.tables["conversation"]
    q = sa.select(mt.c.conversation_id).where(mt.c.user_id == me)
    if not state.groups_enabled:
        q = q.join(ct, ct.c.id == mt.c.conversation_id).where(ct.c.kind == DIRECT)
    return list(conn.execute(q).scalars())


def sync(state, me, since, limit):
    """Every message created, edited or deleted after rev ``since`` in ``me``'s
    conversations, by rev; ``(messages, rev, has_more)``.

    The counter is read first: every rev up to it is committed (revs commit in
    order), so nothing below the returned rev can appear later.
    """
    state.store.ensure_counter()
    t = state.table
    with state.engine.connect() as conn:
        top = state.store.current_rev(conn)
        cids = my_conversation_ids(state, me, conn)
        if not cids:
            return [], min(since or 0, top) if since is not None else 0, False
        if since is None or since > top:
            latest = conn.execute(sa.select(sa.func.max(t.c.rev)).where(
                t.c.conversation_id.in_(cids), t.c.rev <= top)).scalar() or 0
            if since is None:
                return [], latest, False
            since = 0 if since > top else since
        rows = conn.execute(sa.select(t).where(
            t.c.conversation_id.in_(cids), t.c.rev > since, t.c.rev <= top)
            .order_by(t.c.rev).limit(limit + 1)).all()
        has_more = len(rows) > limit
        rows = rows[:limit]
        messages = _dicts(state, conn, rows)
    rev = rows[-1].rev if rows else since
    return messages, rev, has_more


# -- people ----------------------------------------------------------------

def partners(state, me):
    """Ids of everyone who shares a conversation with ``me``."""
    mt, ct = state.tables["member"], state.tables["conversation"]
    m2 = mt.alias("m2")
    q = (sa.select(m2.c.user_id).distinct()
         .join(mt, mt.c.conversation_id == m2.c.conversation_id)
         .where(mt.c.user_id == me))
    if not state.groups_enabled:
        q = q.join(ct, ct.c.id == mt.c.conversation_id).where(ct.c.kind == DIRECT)
    with state.engine.connect() as conn:
        return set(conn.execute(q).scalars())


def find_users(state, me, q, limit):
    """Users whose name contains ``q`` (any case), by name, never ``me``."""
    found = users.search(state, q, limit + 1, exclude=me)
    found = [u for u in found if users.can_message(state, me, users.user_id(state, u))][:limit]
    online = online_for(state, me, [users.user_id(state, u) for u in found])
    return [users.to_dict(state, u, online=users.user_id(state, u) in online) for u in found]


def forget_user(state, user_id, batch=500):
    """Everything chat keeps of a deleted account goes, and those who shared a
    conversation with it are told. Call it before or after the user row goes.

    - Its messages in groups become tombstones, each with a new rev, so every
      member hears of it live (``message-deleted``) and through ``sync``.
    - It leaves its groups (ownership passes on, as when leaving).
    - Its direct conversations go, with every message in them; the other side
      gets ``conversation-removed``.
    - Its blocks, either way, go; and every upload it made, sent or not, or
      that is attached to a message removed here, with its stored files.
    """
    t, ut = state.table, state.tables["upload"]
    mt, ct, bt = state.tables["member"], state.tables["conversation"], state.tables["block"]
    groups_q = (sa.select(mt.c.conversation_id).join(ct, ct.c.id == mt.c.conversation_id)
                .where(mt.c.user_id == user_id, ct.c.kind == GROUP))
    said_q = (sa.select(t.c.id, t.c.conversation_id).join(ct, ct.c.id == t.c.conversation_id)
              .where(t.c.sender_id == user_id, ct.c.kind == GROUP, t.c.deleted == sa.false())
              .order_by(t.c.id).limit(batch))
    members = {}  # conversation id -> its member ids, read once
    while True:
        with state.engine.connect() as conn:
            said = conn.execute(said_q).all()
            for cid in {r.conversation_id for r in said} - members.keys():
                members[cid] = member_ids(conn, state, cid)
        revs = state.store.tombstone([r.id for r in said])
        state.uploads.remove_where(ut.c.message_id.in_(list(revs)))
        for r in said:
            realtime.push(state, members[r.conversation_id], "message-deleted",
                          {"id": r.id, "conversation": r.conversation_id, "rev": revs[r.id]})
        if len(said) < batch:
            break
    with state.engine.connect() as conn:
        groups = list(conn.execute(groups_q).scalars())
    for cid in groups:
        try:
            remove_member(state, user_id, cid, user_id)
        except errors.ChatError:
            pass  # groups turned off: the rows go below all the same
    direct = sa.select(ct.c.id, ct.c.user_low, ct.c.user_high).where(ct.c.kind == DIRECT, sa.or_(
        ct.c.user_low == user_id, ct.c.user_high == user_id))
    with state.engine.connect() as conn:
        pairs = conn.execute(direct).all()
    for i in range(0, len(pairs), batch):
        ids = [p.id for p in pairs[i:i + batch]]
        gone = sa.select(t.c.id).where(t.c.conversation_id.in_(ids)).scalar_subquery()
        state.uploads.remove_where(ut.c.message_id.in_(gone))
        with state.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.conversation_id.in_(ids)))
            conn.execute(mt.delete().where(mt.c.conversation_id.in_(ids)))
            conn.execute(ct.delete().where(ct.c.id.in_(ids)))
    state.uploads.remove_where(ut.c.uploader_id == user_id)
    with state.engine.begin() as conn:
        conn.execute(mt.delete().where(mt.c.user_id == user_id))
        conn.execute(bt.delete().where(sa.or_(bt.c.blocker_id == user_id,
                                              bt.c.blocked_id == user_id)))
    state.direct_ids.clear()
    users.forget(state, user_id)
    for p in pairs:
        other = p.user_high if p.user_low == user_id else p.user_low
        if other != user_id:
            realtime.push(state, (other,), "conversation-removed", {"id": p.id})


def announce_presence(state, user_id, online):
    """Tell everyone who shares a conversation with ``user_id`` (but those it blocked)."""
    others = partners(state, user_id)
    others.discard(user_id)
    others -= blocked_by(state, user_id)  # they see the blocker offline
    if others:
        realtime.push(state, others, "presence", {"user_id": user_id, "online": online})
