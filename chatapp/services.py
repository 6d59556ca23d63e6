"""The one code path behind HTTP and Socket.IO: validate, act (commit), notify.

Every function takes the per-app ``ChatState`` and plain values, raises
``ChatError`` on bad input, and pushes events only after its commit.
"""
import sqlalchemy as sa

from . import errors, inputs, realtime, users
from .models import message_dict, storable, utcnow


def _check_other(state, me, other, verb):
    """``other`` must be a real user, not ``me``, whom ``me`` may reach."""
    if other == me:
        raise errors.invalid(f"You cannot {verb} yourself.")
    if not users.exists(state, other):
        raise errors.unknown_user(f"No user with id {other!r}.")
    if not users.can_message(state, me, other):
        raise errors.forbidden("You may not message this user.")


def send_message(state, sender, data, sid=None):
    """Store a ``chat-to`` payload and deliver it; return the ack body."""
    if not isinstance(data, dict):
        raise errors.invalid("The payload must be an object.")
    to = inputs.user_id(state, data.get("to"), "to")
    content = data.get("content")
    if not isinstance(content, str) or not storable(content):
        raise errors.invalid("`content` must be a string of valid characters.")
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str)
                                  or not 0 < len(client_id) <= 64 or not storable(client_id)):
        raise errors.invalid("`client_id` must be a string of 1 to 64 characters.")
    content = content.strip()
    if not content:
        raise errors.empty()
    if len(content) > state.max_length:
        raise errors.too_long(state.max_length)
    _check_other(state, sender, to, "message")
    if client_id is not None and state.limiter.limit:
        # The store answers a resend by itself; asking first only keeps a
        # resend from spending the sender's rate limit.
        row = state.store.find_by_client_id(sender, client_id)
        if row is not None:
            return _ack(state, row, duplicate=True)
    if not state.limiter.allow(sender):
        raise errors.rate_limited()
    row, created = state.store.insert(sender, to, content, client_id)
    ack = _ack(state, row, duplicate=not created)
    if created:
        realtime.push(state, (to, sender), "message", ack["message"], skip_sid=sid)
    return ack


def _ack(state, row, duplicate):
    ack = {"ok": True, "message": message_dict(row),
           "delivered": state.presence.is_online(row.recipient_id)}
    if duplicate:
        ack["duplicate"] = True
    return ack


def mark_read(state, reader, other, up_to):
    """Mark ``other``'s messages to ``reader`` read up to ``up_to``; emit ``read``."""
    up_to = inputs.message_id(up_to, "up_to")
    _check_other(state, reader, other, "read messages from")
    t = state.table
    with state.engine.begin() as conn:
        conn.execute(
            t.update()
            .where(t.c.sender_id == other, t.c.recipient_id == reader,
                   t.c.id <= up_to, t.c.read_at.is_(None))
            .values(read_at=utcnow())
        )
    realtime.push(state, (reader, other), "read",
                  {"by": reader, "with": other, "up_to": up_to})


def typing(state, sender, data):
    """Forward a typing notice to its recipient."""
    if not isinstance(data, dict):
        raise errors.invalid("The payload must be an object.")
    to = inputs.user_id(state, data.get("to"), "to")
    _check_other(state, sender, to, "message")
    realtime.push(state, (to,), "typing", {"from": sender})


def history(state, me, other, before=None, after=None, limit=None):
    """One page of the conversation of ``me`` and ``other``, oldest first."""
    if other != me and not users.exists(state, other):
        raise errors.unknown_user(f"No user with id {other!r}.")
    t = state.table
    newer = after is not None
    bound = t.c.id > after if newer else (t.c.id < before if before is not None else sa.true())
    order = t.c.id.asc() if newer else t.c.id.desc()

    def side(a, b):
        # Each side is a range scan of the pair index; the union merges them.
        q = sa.select(t).where(t.c.sender_id == a, t.c.recipient_id == b, bound)
        return sa.select(q.order_by(order).limit(limit + 1).subquery())

    parts = [side(me, other)] if me == other else [side(me, other), side(other, me)]
    u = sa.union_all(*parts).subquery()
    q = sa.select(u).order_by(u.c.id.asc() if newer else u.c.id.desc()).limit(limit + 1)
    with state.engine.connect() as conn:
        rows = conn.execute(q).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not newer:
        rows.reverse()
    return [message_dict(r) for r in rows], has_more


def conversations(state, me):
    """Every conversation of ``me``: the other user, last message, unread count."""
    t = state.table
    sent = sa.select(t.c.recipient_id.label("other"), t.c.id).where(t.c.sender_id == me)
    got = sa.select(t.c.sender_id.label("other"), t.c.id).where(t.c.recipient_id == me)
    both = sa.union_all(sent, got).subquery()
    last = (sa.select(both.c.other, sa.func.max(both.c.id).label("last_id"))
            .group_by(both.c.other).subquery())
    m2 = t.alias("m2")
    unread = (sa.select(sa.func.count())
              .where(m2.c.recipient_id == me, m2.c.sender_id == last.c.other,
                     m2.c.read_at.is_(None))
              .scalar_subquery())
    q = (sa.select(t, last.c.other, unread.label("unread"))
         .join(last, t.c.id == last.c.last_id)
         .order_by(t.c.id.desc()))
    with state.engine.connect() as conn:
        rows = conn.execute(q).all()
    found = users.load(state, [r.other for r in rows])
    online = state.presence.online_among(list(found))
    out = []
    for r in rows:
        user = found.get(r.other)
        if user is None:
            continue  # the other account is gone
        out.append({"other": users.to_dict(state, user, online=r.other in online),
                    "last_message": message_dict(r), "unread": r.unread})
    return out


def partners(state, me):
    """Ids of everyone who shares a conversation with ``me``."""
    t = state.table
    sent = sa.select(t.c.recipient_id.label("other")).where(t.c.sender_id == me)
    got = sa.select(t.c.sender_id.label("other")).where(t.c.recipient_id == me)
    with state.engine.connect() as conn:
        return {r.other for r in conn.execute(sa.union(sent, got))}


def find_users(state, me, q, limit):
    """Users whose name contains ``q`` (any case), by name, never ``me``."""
    found = users.search(state, q, limit + 1, exclude=me)
    found = [u for u in found if users.can_message(state, me, users.user_id(state, u))][:limit]
    online = state.presence.online_among([users.user_id(state, u) for u in found])
    return [users.to_dict(state, u, online=users.user_id(state, u) in online) for u in found]


def announce_presence(state, user_id, online):
    """Tell everyone who shares a conversation with ``user_id``."""
    others = partners(state, user_id)
    others.discard(user_id)
    if others:
        realtime.push(state, others, "presence", {"user_id": user_id, "online": online})
