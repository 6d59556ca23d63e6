"""The host's users, as chat sees them: existence, loading, search, names,
avatars and who may message whom.

Chat never owns a user table: ``state.user_model`` is the host's mapped class
and the hooks (``Chat.can_message`` and friends) let the host decide.
"""
import sqlalchemy as sa

#: Most user ids remembered as existing, per app.
KNOWN_USERS_MAX = 100_000


def describe(user_model, name_attr=None):
    """What chat reads from the host's user class: ``(pk column, pk attribute,
    id type, name attribute)``."""
    mapper = sa.inspect(user_model)
    pk = mapper.primary_key[0]
    pk_attr = mapper.get_property_by_column(pk).key
    id_type = int if pk.type.python_type is int else str
    name_attr = name_attr or next(
        (a for a in ("username", "name") if hasattr(user_model, a)), pk_attr)
    return pk, pk_attr, id_type, name_attr


def user_id(state, user):
    return getattr(user, state.user_pk_attr)


def exists(state, uid):
    """Whether the host has a user ``uid`` (remembered once seen)."""
    known = state.known_users
    if uid in known:
        return True
    if state.id_type is int and not -2**63 <= uid < 2**63:
        return False  # no database column holds it; asking would overflow
    with state.engine.connect() as conn:
        found = conn.execute(
            sa.select(state.user_pk).where(state.user_pk == uid)).first()
    if found and len(known) < KNOWN_USERS_MAX:
        known.add(uid)
    return bool(found)


def forget(state, uid):
    """Call when the host deletes a user."""
    state.known_users.discard(uid)


def load(state, ids):
    """``{id: user}`` for the ids that exist."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    rows = state.db.session.execute(
        sa.select(state.user_model).where(state.user_pk.in_(ids))).scalars()
    return {user_id(state, u): u for u in rows}


def search(state, q, limit, exclude=None):
    """Users whose name contains ``q`` (any case), by name; the hook decides if given."""
    hook = state.hooks.get("search_users")
    if hook:
        return list(hook(q, limit, exclude))
    model, pk = state.user_model, state.user_pk
    name = getattr(model, state.name_attr)
    stmt = sa.select(model).order_by(sa.func.lower(name), pk)
    if q:
        stmt = stmt.where(sa.func.lower(name).contains(q.lower(), autoescape=True))
    if exclude is not None:
        stmt = stmt.where(pk != exclude)
    return list(state.db.session.execute(stmt.limit(limit)).scalars())


def display_name(state, user):
    hook = state.hooks.get("display_name")
    return str(hook(user) if hook else getattr(user, state.name_attr))


def avatar_url(state, user):
    hook = state.hooks.get("avatar_url")
    if hook:
        return hook(user)
    return f"{state.url_prefix}/avatar/{user_id(state, user)}.svg"


def to_dict(state, user, online=None):
    """The contract's User object."""
    d = {"id": user_id(state, user), "username": display_name(state, user),
         "avatar": avatar_url(state, user)}
    if online is not None:
        d["online"] = online
    return d


def can_message(state, sender_id, recipient_id):
    """The host's ``can_message`` hook; everyone may when there is none."""
    hook = state.hooks.get("can_message")
    if hook is None:
        return True
    found = load(state, [sender_id, recipient_id])
    if sender_id not in found or recipient_id not in found:
        return False
    return bool(hook(found[sender_id], found[recipient_id]))
