"""Per-app chat state: what ``Chat.init_app`` found and made for one app.

It lives in ``app.extensions["chat"]``; nothing here is module-level, so two
apps with different settings work side by side in one process.
"""
import sqlalchemy as sa

from . import errors
from .models import define_tables, storable
from .realtime import LocalPresence, RateLimiter, without_ws_compression
from .store import MessageStore


class ChatState:
    def __init__(self, chat, app, db, socketio, user_model, hooks):
        cfg = app.config
        self.chat = chat
        self.app = app
        self.db = db
        self.socketio = socketio
        self.user_model = user_model
        self.hooks = hooks
        self.namespace = cfg["CHAT_NAMESPACE"]
        self.url_prefix = cfg["CHAT_URL_PREFIX"].rstrip("/")
        self.max_length = cfg["CHAT_MAX_MESSAGE_LENGTH"]
        self.allowed_origins = set(_as_list(cfg["CHAT_ALLOWED_ORIGINS"]))
        mapper = sa.inspect(user_model)
        self.user_pk = mapper.primary_key[0]
        self.user_pk_attr = mapper.get_property_by_column(self.user_pk).key
        self.id_type = int if self.user_pk.type.python_type is int else str
        self.name_attr = cfg["CHAT_USER_NAME_ATTR"] or next(
            (a for a in ("username", "name") if hasattr(user_model, a)), self.user_pk_attr)
        self.table_prefix = cfg["CHAT_TABLE_PREFIX"]
        self.tables = define_tables(db.metadata, self.table_prefix, self.user_pk.type.copy())
        self.table = self.tables["message"]
        #: Whether chat's revisions also create the users table (standalone app).
        self.owns_user_table = False
        self.groups_enabled = bool(cfg["CHAT_GROUPS"])
        self.group_max_members = int(cfg["CHAT_GROUP_MAX_MEMBERS"])
        self.edit_window = float(cfg["CHAT_EDIT_WINDOW"] or 0)
        self.presence = LocalPresence()
        self.limiter = RateLimiter(cfg["CHAT_RATE_LIMIT"])
        self.store = MessageStore(self)
        app.wsgi_app = without_ws_compression(app.wsgi_app)
        if socketio.server is not None:
            # One event at a time per connection, in order: a client flooding
            # frames waits for its own acks (its socket stops being read)
            # instead of queueing every other user's events behind its burst.
            socketio.server.async_handlers = False
        self.sids = {}  # sid -> user id, for this process's connections
        self._engine = None
        self._known_users = set()
        self.direct_ids = {}  # (user, user) -> direct conversation id; never changes

    @property
    def engine(self):
        if self._engine is None:
            with self.app.app_context():
                engine = self.db.engine
            if engine.dialect.name == "sqlite" and self.app.config["CHAT_SQLITE_SYNCHRONOUS"]:
                _tune_sqlite(engine, self.app.config["CHAT_SQLITE_SYNCHRONOUS"])
            self._engine = engine
        return self._engine

    # -- users -------------------------------------------------------------
    def parse_user_id(self, value, field):
        """A user id from a payload, of the host's id type, else ``invalid``."""
        ok = (isinstance(value, int) and not isinstance(value, bool)) \
            if self.id_type is int else (isinstance(value, str) and value != "" and storable(value))
        if not ok:
            kind = "an integer" if self.id_type is int else "a string"
            raise errors.invalid(f"`{field}` must be a user id ({kind}).")
        return value

    def user_id_from_path(self, value):
        if self.id_type is int:
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is None or not -2**63 <= number < 2**63:
                raise errors.unknown_user(f"No user with id {value!r}.")
            return number
        return value

    def user_id(self, user):
        return getattr(user, self.user_pk_attr)

    def user_exists(self, user_id):
        if user_id in self._known_users:
            return True
        if self.id_type is int and not -2**63 <= user_id < 2**63:
            return False  # no database column holds it; asking would overflow
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(self.user_pk).where(self.user_pk == user_id)).first()
        if found and len(self._known_users) < 100_000:
            self._known_users.add(user_id)
        return bool(found)

    def forget_user(self, user_id):
        self._known_users.discard(user_id)

    def load_users(self, ids):
        """``{id: user}`` for the ids that exist."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        rows = self.db.session.execute(
            sa.select(self.user_model).where(self.user_pk.in_(ids))).scalars()
        return {self.user_id(u): u for u in rows}

    def search_users(self, q, limit, exclude=None):
        hook = self.hooks.get("search_users")
        if hook:
            return list(hook(q, limit, exclude))
        name = getattr(self.user_model, self.name_attr)
        stmt = sa.select(self.user_model).order_by(sa.func.lower(name), self.user_pk)
        if q:
            stmt = stmt.where(sa.func.lower(name).contains(q.lower(), autoescape=True))
        if exclude is not None:
            stmt = stmt.where(self.user_pk != exclude)
        return list(self.db.session.execute(stmt.limit(limit)).scalars())

    def display_name(self, user):
        hook = self.hooks.get("display_name")
        return str(hook(user) if hook else getattr(user, self.name_attr))

    def avatar_url(self, user):
        hook = self.hooks.get("avatar_url")
        if hook:
            return hook(user)
        return f"{self.url_prefix}/avatar/{self.user_id(user)}.svg"

    def user_dict(self, user, online=None):
        d = {"id": self.user_id(user), "username": self.display_name(user),
             "avatar": self.avatar_url(user)}
        if online is not None:
            d["online"] = online
        return d

    def may_message(self, sender_id, recipient_id):
        hook = self.hooks.get("can_message")
        if hook is None:
            return True
        users = self.load_users([sender_id, recipient_id])
        if sender_id not in users or recipient_id not in users:
            return False
        return bool(hook(users[sender_id], users[recipient_id]))

    # -- origins -----------------------------------------------------------
    def origin_allowed(self, origin, environ):
        """Same origin, or one listed in ``CHAT_ALLOWED_ORIGINS``."""
        if not origin:
            return True  # not a browser's cross-site request
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        scheme = environ.get("HTTP_X_FORWARDED_PROTO", environ.get("wsgi.url_scheme", "http"))
        host = environ.get("HTTP_X_FORWARDED_HOST", environ.get("HTTP_HOST", ""))
        return origin == f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}"


def _tune_sqlite(engine, synchronous):
    """WAL lets readers run beside the writer; ``synchronous`` sets durability."""
    if engine.url.database in (None, "", ":memory:"):
        return

    def on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    sa.event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections were opened before the hook


def _as_list(value):
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)
