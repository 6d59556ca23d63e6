"""The per-app chat record: what ``Chat.init_app`` found and made for one app.

It lives in ``app.extensions["chat"]``; nothing here is module-level, so two
apps with different settings work side by side in one process. It holds
values only: the modules that act on it (``users``, ``services``, ...) take
it as their first argument.
"""
from .models import define_tables
from .users import describe


class ChatState:
    def __init__(self, app, db, socketio, user_model, hooks, engine, presence, limiter):
        cfg = app.config
        self.app = app
        self.db = db
        self.engine = engine
        self.socketio = socketio
        self.presence = presence
        self.limiter = limiter
        # settings
        self.namespace = cfg["CHAT_NAMESPACE"]
        self.url_prefix = cfg["CHAT_URL_PREFIX"].rstrip("/")
        self.max_length = cfg["CHAT_MAX_MESSAGE_LENGTH"]
        self.allowed_origins = set(_as_list(cfg["CHAT_ALLOWED_ORIGINS"]))
        # the host's users
        self.user_model = user_model
        self.hooks = hooks
        self.user_pk, self.user_pk_attr, self.id_type, self.name_attr = describe(
            user_model, cfg["CHAT_USER_NAME_ATTR"])
        self.known_users = set()  # ids seen to exist (see users.exists)
        # chat's tables, in the host's metadata
        self.table_prefix = cfg["CHAT_TABLE_PREFIX"]
        self.tables = define_tables(db.metadata, self.table_prefix, self.user_pk.type.copy())
        self.table = self.tables["message"]
        #: Whether chat's revisions also create the users table (standalone app).
        self.owns_user_table = False
        # groups and edits (contract v2.0)
        self.groups_enabled = bool(cfg["CHAT_GROUPS"])
        self.group_max_members = int(cfg["CHAT_GROUP_MAX_MEMBERS"])
        self.edit_window = float(cfg["CHAT_EDIT_WINDOW"] or 0)
        self.direct_ids = {}  # (user, user) -> direct conversation id; never changes
        self.store = None  # the MessageStore, set by init_app
        self.uploads = None  # uploads.Uploads (storage, limits), set by init_app
        self.searcher = None  # search.Searcher, set by init_app


def _as_list(value):
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)
