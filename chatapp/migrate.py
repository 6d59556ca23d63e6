"""Chat's schema migrations (Alembic revisions shipped in ``chatapp/migrations``).

A database made by an older release is brought to this release's schema by
running the revisions: ``flask db upgrade`` in the standalone app (Flask-Migrate,
pointed at the package's revisions), ``flask chat db-upgrade`` in a host site.
Revision scripts read chat's settings with ``settings()``.
"""
import contextlib
import hashlib
import logging
import os
from types import SimpleNamespace

try:
    import fcntl
except ImportError:  # not on Windows: SQLite start-ups there are not serialised
    fcntl = None

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

log = logging.getLogger("chatapp")

#: The revisions, inside the installed package.
DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

#: The release 0.1 schema, the first revision.
BASELINE = "0001_baseline_0_1"


def version_table(state):
    return f"{state.table_prefix}alembic_version"


def settings():
    """Chat's settings for the revision being run (inside a revision only):
    ``prefix``, ``user_id_type`` and ``owns_users`` (create the users table)."""
    from alembic import context
    return context.config.attributes["chat"]


def settings_for(prefix="chat_", user_id_type=None, owns_users=False):
    return SimpleNamespace(prefix=prefix, user_id_type=user_id_type or sa.Integer(),
                           owns_users=owns_users)


def _settings_of(state):
    return settings_for(state.table_prefix, state.user_pk.type.copy(), state.owns_user_table)


def configure_context(context, state=None):
    """What ``env.py`` does: run the revisions on the app's engine, or on the
    ``connection`` given in the config's attributes (with ``chat`` settings)."""
    config = context.config
    if "chat" not in config.attributes:
        config.attributes["chat"] = _settings_of(state)
    kwargs = {"version_table": f"{config.attributes['chat'].prefix}alembic_version",
              "render_as_batch": True, "transaction_per_migration": True}
    if context.is_offline_mode():
        context.configure(url=state.engine.url, literal_binds=True, **kwargs)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **kwargs)
        with context.begin_transaction():
            context.run_migrations()
        return
    with state.engine.connect() as connection:
        context.configure(connection=connection, **kwargs)
        with context.begin_transaction():
            context.run_migrations()


def alembic_config(state=None, connection=None, chat_settings=None):
    """Alembic's config for chat's revisions: of an app's chat ``state``, or of
    a bare ``connection`` with ``chat_settings`` (``settings_for(...)``)."""
    config = Config(os.path.join(DIRECTORY, "alembic.ini"))
    config.set_main_option("script_location", DIRECTORY)
    config.attributes["chat"] = chat_settings or _settings_of(state)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head():
    return ScriptDirectory(DIRECTORY).get_current_head()


def current(state):
    """The database's chat revision, or None when it has none."""
    with state.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": version_table(state)})
        return ctx.get_current_revision()


def upgrade(state, revision="head"):
    """Run chat's revisions up to ``revision``, adopting an unstamped database."""
    adopt(state)
    command.upgrade(alembic_config(state), revision)


def adopt(state):
    """Stamp a database whose chat tables were made without chat's revisions
    (``create_all``, or a host's own migrations) with the revision they match."""
    names = set(sa.inspect(state.engine).get_table_names())
    if version_table(state) in names or state.table.name not in names:
        return None
    columns = {c["name"] for c in sa.inspect(state.engine).get_columns(state.table.name)}
    revision = "0002_conversations" if "conversation_id" in columns else BASELINE
    if state.tables["upload"].name in names:
        revision = "0003_uploads_search"
    stamp(state, revision)
    return revision


def stamp(state, revision="head"):
    command.stamp(alembic_config(state), revision)


@contextlib.contextmanager
def start_lock(state):
    """Hold, across processes, the lock of chat's tables in this database, so
    that processes starting together create or upgrade them once: the others
    wait, then find them ready. PostgreSQL: an advisory lock; MySQL/MariaDB:
    ``GET_LOCK``; SQLite: an exclusive ``flock`` on a file beside the database."""
    engine = state.engine
    name = f"chatapp-migrate:{engine.url.database}:{state.app.config['CHAT_TABLE_PREFIX']}"
    dialect = engine.dialect.name
    if dialect == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    elif dialect in ("mysql", "mariadb"):
        name = hashlib.sha256(name.encode()).hexdigest()[:60]  # GET_LOCK takes 64 characters
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.execute(sa.text("SELECT GET_LOCK(:n, 600)"), {"n": name}).scalar() != 1:
                raise RuntimeError("another process held chat's migration lock for 10 minutes")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    elif dialect == "sqlite" and fcntl and engine.url.database not in (None, "", ":memory:"):
        with open(engine.url.database + ".chat-lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    else:
        yield


def prepare(state, migrate=True):
    """Make the database ready at start-up (one process at a time).

    A new database gets this release's tables (``create_all``) stamped with the
    newest revision; one made by an older release is upgraded when ``migrate``
    is true, else a warning says to run ``flask db upgrade``.
    """
    with start_lock(state):
        return _prepare(state, migrate)


def _prepare(state, migrate):
    engine = state.engine
    names = set(sa.inspect(engine).get_table_names())
    if version_table(state) not in names and state.table.name not in names:
        state.db.create_all()
        stamp(state)
        return "created"
    if current(state) == head():
        return "current"
    if not migrate:
        log.warning("chat's tables are not at revision %s: run `flask db upgrade` "
                    "(a host site: `flask chat db-upgrade`)", head())
        return "behind"
    log.info("upgrading chat's tables to revision %s", head())
    upgrade(state)
    return "upgraded"


def skip_chat_tables(prefix="chat_"):
    """An ``include_object`` for a host's own Alembic autogenerate that leaves
    chat's tables (and their indexes) to chat's revisions::

        Migrate(app, db, include_object=skip_chat_tables())
    """
    def include_object(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
        return not (table or "").startswith(prefix)
    return include_object
