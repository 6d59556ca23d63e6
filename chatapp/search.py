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
without the index) read the caller's conversations and compare case-folded
text. So do queries of callers whose conversations hold at most
``CHAT_SEARCH_SCAN_MAX`` messages (in the requested range): reading those few
is cheaper than walking every match of a common trigram in everyone's
messages; above it the index answers. Whatever ``q`` holds (``"``,
``*``, ``NEAR(``, ``%``, ``_``) is plain text: it is bound as a parameter, as
one quoted FTS5 phrase, or with LIKE's wildcards escaped.
"""
import logging

import sqlalchemy as sa
from flask import request

from . import errors, services
from .i18n import _l
from .models import storable

log = logging.getLogger("chatapp")

#: Shortest query the trigram indexes answer; shorter ones read conversations.
MIN_INDEXED = 3
#: ``q`` after stripping, in code points.
MIN_QUERY, MAX_QUERY = 2, 100


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
        self.scan_max = int(state.app.config["CHAT_SEARCH_SCAN_MAX"])
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

    def find(self, conn, mine, q, limit, before=None):
        """Ids of up to ``limit + 1`` messages that contain ``q``, newest
        first, in the conversations ``mine`` (a select of their ids) names."""
        m = self.message
        scope = [m.c.conversation_id.in_(mine)]
        if before is not None:
            scope.append(m.c.id < before)
        where = scope + [m.c.deleted == sa.false()]
        dialect = conn.dialect.name
        folded = q.lower()
        if dialect == "postgresql":
            # Parallel workers cost more to start than these queries take.
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        if len(q) >= MIN_INDEXED and self.indexed(conn) and self._large(conn, scope):
            if dialect == "sqlite":
                # The FTS table drives, newest match first, and the caller's
                # conversations filter: it stops at the page's last message.
                name = fts_name(self.prefix)
                fts = sa.table(name, sa.column("rowid"))
                phrase = '"' + q.replace('"', '""') + '"'  # every character literal
                stmt = (sa.select(m.c.id).select_from(fts.join(m, m.c.id == fts.c.rowid))
                        .where(sa.text(f"{name} MATCH :phrase").bindparams(phrase=phrase),
                               *where).order_by(fts.c.rowid.desc()).limit(limit + 1))
                return list(conn.execute(stmt).scalars())
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(m.c.content.ilike(f"%{escaped}%", escape="\\"))
        elif dialect == "sqlite":
            # SQLite's lower() knows ASCII only: Python's, for this connection.
            conn.connection.driver_connection.create_function(
                "chat_lower", 1, _lower, deterministic=True)
            where.append(sa.func.instr(sa.func.chat_lower(m.c.content), folded) > 0)
        elif dialect == "postgresql":
            where.append(sa.func.strpos(sa.func.lower(m.c.content), folded) > 0)
        else:
            where.append(sa.func.locate(folded, sa.func.lower(m.c.content)) > 0)
        # Newest first, but by ``id + 0``: ordered by the bare id, PostgreSQL
        # and MariaDB walk the whole primary key backwards hoping for an early
        # match, instead of reading the caller's conversations.
        order = m.c.id.desc() if dialect == "sqlite" else (m.c.id + 0).desc()
        stmt = sa.select(m.c.id).where(*where).order_by(order).limit(limit + 1)
        return list(conn.execute(stmt).scalars())

    def _large(self, conn, scope):
        """Whether the caller's messages in scope outnumber ``scan_max``.

        Reading a few thousand messages of one's own conversations (through
        the conversation index) costs less than walking every match of a
        common trigram in everyone's messages and dropping the others'; past
        ``scan_max`` the index wins. Counting stops at ``scan_max + 1``.
        """
        if self.scan_max <= 0:
            return True
        m = self.message
        first = sa.select(m.c.id).where(*scope).limit(self.scan_max + 1).subquery()
        return conn.execute(sa.select(sa.func.count()).select_from(first)).scalar() \
            > self.scan_max


def search(state, me, q, limit, before=None, conversation=None):
    """``(results, has_more)``: ``me``'s messages that contain ``q``, newest
    first, each with its conversation as ``me`` sees it."""
    t, mt, ct = state.table, state.tables["member"], state.tables["conversation"]
    mine = sa.select(mt.c.conversation_id).where(mt.c.user_id == me)
    if not state.groups_enabled:
        mine = mine.join(ct, ct.c.id == mt.c.conversation_id).where(ct.c.kind == "direct")
    if conversation is not None:
        mine = mine.where(mt.c.conversation_id == conversation)
    with state.engine.connect() as conn:
        if conversation is not None and conn.execute(mine).first() is None:
            raise errors.not_found(_l("No such conversation."))
        ids = state.searcher.find(conn, mine, q, limit, before)
        has_more = len(ids) > limit
        ids = ids[:limit]
        rows = conn.execute(sa.select(t).where(t.c.id.in_(ids)).order_by(t.c.id.desc())).all() \
            if ids else []
        messages = services._dicts(state, conn, rows)
    convs = services.conversation_items(state, me, {r.conversation_id for r in rows})
    results = [{"message": msg, "conversation": convs[row.conversation_id]}
               for row, msg in zip(rows, messages) if row.conversation_id in convs]
    return results, has_more


def query_text():
    """The request's ``q``, stripped: 2 to 100 code points, else ``invalid``."""
    q = request.args.get("q", "").strip()
    if not MIN_QUERY <= len(q) <= MAX_QUERY or not storable(q):
        raise errors.invalid(_l("`q` must be %(low)s to %(high)s characters.", low=MIN_QUERY, high=MAX_QUERY))
    return q


def init_app(app, state):
    install(state)
    state.searcher = Searcher(state, state.table, state.tables["member"])


def _lower(text):
    return text.lower() if isinstance(text, str) else text
