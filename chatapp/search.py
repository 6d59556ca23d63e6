"""Message search: each database's own substring index, any script.

Chinese has no spaces, so word indexes miss ``咖啡`` in ``明天去咖啡馆``;
character trigrams do not. Per database:

- SQLite: an FTS5 table with the ``trigram`` tokenizer (case-insensitive),
  kept in step with the message table by triggers; queried with a phrase
  ``MATCH``, which finds any substring of three or more characters.
- PostgreSQL: a ``pg_trgm`` GIN index on the content; ``ILIKE '%q%'`` uses it
  for three or more characters.
- MariaDB/MySQL: no n-gram parser ships with MariaDB (MySQL's ``ngram`` is
  MySQL-only), and its word FULLTEXT cannot find substrings, so the search
  reads the caller's conversations through their message index and compares
  case-folded text (``LOCATE``).

A trigram needs three characters: two-character queries (and databases
without the index) read the caller's conversations newest first and compare
case-folded text, stopping at the first page. Whatever ``q`` holds (``"``,
``*``, ``NEAR(``, ``%``, ``_``) is plain text: it is bound as a parameter, as
one quoted FTS5 phrase, or with LIKE's wildcards escaped.
"""
import logging

import sqlalchemy as sa

log = logging.getLogger("chatapp")

MIN_INDEXED = 3


def fts_name(prefix):
    return f"{prefix}message_fts"


def index_ddl(dialect, prefix):
    """Statements that create the search index of ``<prefix>message``."""
    m, fts = f"{prefix}message", fts_name(prefix)
    if dialect == "sqlite":
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(content, content='{m}', "
            f"content_rowid='id', tokenize='trigram')",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {m} BEGIN "
            f"INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {m} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); END",
            f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF content ON {m} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, content) VALUES ('delete', old.id, old.content); "
            f"INSERT INTO {fts}(rowid, content) VALUES (new.id, new.content); END",
            # Index what is already there.
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]
    if dialect == "postgresql":
        return [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            f"CREATE INDEX IF NOT EXISTS ix_{m}_content_trgm ON {m} "
            "USING gin (content gin_trgm_ops)",
        ]
    return []


def drop_ddl(dialect, prefix):
    m, fts = f"{prefix}message", fts_name(prefix)
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {fts}_{t}" for t in ("ai", "ad", "au")] + \
            [f"DROP TABLE IF EXISTS {fts}"]
    if dialect == "postgresql":
        return [f"DROP INDEX IF EXISTS ix_{m}_content_trgm"]
    return []


def install(state):
    """Create the index with the message table (``create_all``), drop it with it."""
    prefix = state.app.config["CHAT_TABLE_PREFIX"]

    def after_create(target, connection, **kw):
        for stmt in index_ddl(connection.dialect.name, prefix):
            connection.exec_driver_sql(stmt)

    def before_drop(target, connection, **kw):
        for stmt in drop_ddl(connection.dialect.name, prefix):
            connection.exec_driver_sql(stmt)

    if not sa.event.contains(state.table, "after_create", after_create):
        sa.event.listen(state.table, "after_create", after_create)
        sa.event.listen(state.table, "before_drop", before_drop)


class Searcher:
    """Finds the caller's messages that contain ``q``; one per app."""

    def __init__(self, state, message, member):
        self.state, self.message, self.member = state, message, member
        self.prefix = state.app.config["CHAT_TABLE_PREFIX"]
        self._indexed = None  # whether the database has the index (checked once)

    def indexed(self, conn):
        if self._indexed is None:
            dialect = conn.dialect.name
            if dialect == "sqlite":
                self._indexed = sa.inspect(conn).has_table(fts_name(self.prefix))
            elif dialect == "postgresql":
                self._indexed = bool(conn.execute(sa.text(
                    "SELECT 1 FROM pg_indexes WHERE indexname = :n"),
                    {"n": f"ix_{self.prefix}message_content_trgm"}).first())
            else:
                self._indexed = False
            if not self._indexed and dialect in ("sqlite", "postgresql"):
                log.warning("no search index on %smessage: run chat's migrations; "
                            "search reads each conversation meanwhile", self.prefix)
        return self._indexed

    def find(self, conn, user_id, q, limit, before=None, conversation=None):
        """Ids of up to ``limit + 1`` matching messages, newest first."""
        m, mb = self.message, self.member
        mine = sa.select(mb.c.conversation_id).where(mb.c.user_id == user_id)
        if conversation is not None:
            mine = mine.where(mb.c.conversation_id == conversation)
        where = [m.c.conversation_id.in_(mine), m.c.deleted == sa.false()]
        if before is not None:
            where.append(m.c.id < before)
        dialect = conn.dialect.name
        folded = q.lower()
        if len(q) >= MIN_INDEXED and self.indexed(conn):
            if dialect == "sqlite":
                fts = sa.table(fts_name(self.prefix), sa.column("rowid"))
                phrase = '"' + q.replace('"', '""') + '"'
                where.append(m.c.id.in_(sa.select(fts.c.rowid).where(
                    sa.text(f"{fts_name(self.prefix)} MATCH :phrase").bindparams(
                        phrase=phrase))))
            else:
                escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append(m.c.content.ilike(f"%{escaped}%", escape="\\"))
        elif dialect == "sqlite":
            where.append(sa.func.instr(sa.func.chat_lower(m.c.content), folded) > 0)
        elif dialect == "postgresql":
            where.append(sa.func.strpos(sa.func.lower(m.c.content), folded) > 0)
        else:
            where.append(sa.func.locate(folded, sa.func.lower(m.c.content)) > 0)
        stmt = sa.select(m.c.id).where(*where).order_by(m.c.id.desc()).limit(limit + 1)
        return [row.id for row in conn.execute(stmt)]


def sqlite_functions(engine):
    """``chat_lower(text)``: Python's full Unicode ``lower`` (SQLite's own
    ``lower`` knows ASCII only)."""
    def on_connect(dbapi_conn, _record):
        dbapi_conn.create_function("chat_lower", 1, _lower, deterministic=True)

    sa.event.listen(engine, "connect", on_connect)


def _lower(text):
    return text.lower() if isinstance(text, str) else text
