"""Writing messages: the hot path of every send.

``insert`` returns only after the row is committed, so an ack that follows it
never promises a message the database could lose. With ``CHAT_GROUP_COMMIT``
one writer task commits the messages that arrived together in one transaction
(one fsync for many sends) and then releases each waiting sender.
"""
import threading
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import errors
from .models import utcnow

#: Seconds an idle writer task waits for work before it ends (the next send
#: starts a new one), so an unused app leaves no task behind.
WRITER_IDLE = 5.0


def open_engine(app, db):
    """The app's engine, tuned once at start-up (SQLite: WAL and ``synchronous``)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite" and app.config["CHAT_SQLITE_SYNCHRONOUS"]:
        _tune_sqlite(engine, app.config["CHAT_SQLITE_SYNCHRONOUS"])
    return engine


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


class _Pending:
    """One send waiting for the writer: its row values, then its result.

    ``pair`` (sender, recipient) of a direct message: refused with ``blocked``
    if either blocked the other, checked in the transaction that stores it.
    ``link(conn, message_id)`` runs in that transaction too (attachments).
    """

    __slots__ = ("values", "done", "result", "error", "pair", "link")

    def __init__(self, values, done, pair=None, link=None):
        self.values, self.done, self.pair, self.link = values, done, pair, link
        self.result = self.error = None


class MessageStore:
    def __init__(self, state):
        self.state = state
        cfg = state.app.config
        self.group = bool(cfg.get("CHAT_GROUP_COMMIT"))
        self.batch_max = max(1, int(cfg.get("CHAT_GROUP_COMMIT_MAX") or 1))
        self._queue = None
        self._writing = False
        self._lock = threading.Lock()
        self._counter_ready = False
        self._stmts = None

    def find_by_client_id(self, sender, client_id):
        t = self.state.table
        with self.state.engine.connect() as conn:
            return conn.execute(
                sa.select(t).where(t.c.sender_id == sender, t.c.client_id == client_id)
            ).first()

    # -- rev: one server-wide change number ---------------------------------
    def ensure_counter(self):
        """Create the ``rev`` counter row once (a database made by ``create_all``)."""
        if self._counter_ready:
            return
        counter, t = self.state.tables["counter"], self.state.table
        with self.state.engine.connect() as conn:
            found = conn.execute(sa.select(counter.c.value)
                                 .where(counter.c.name == "rev")).first()
        if found is None:
            try:
                with self.state.engine.begin() as conn:
                    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.rev), 0)))
                    conn.execute(counter.insert().values(name="rev", value=start.scalar()))
            except IntegrityError:
                pass  # another process made it first
        self._counter_ready = True

    def allocate_revs(self, conn, n):
        """Take ``n`` revs in ``conn``'s transaction; return the first.

        The counter row stays locked until that transaction ends, so revs are
        committed in the order they are handed out, on every process: a reader
        that has seen rev N can never later meet a new row below N.
        """
        st = self._statements()
        if conn.dialect.update_returning:
            last = conn.execute(st["bump_returning"], {"n": n}).scalar()
        else:  # MariaDB: the row is ours until commit, so reading it back is exact
            conn.execute(st["bump"], {"n": n})
            last = conn.execute(st["rev"]).scalar()
        if last is None:
            raise RuntimeError("the rev counter row is missing (ensure_counter)")
        return last - n + 1

    def current_rev(self, conn):
        return conn.execute(self._statements()["rev"]).scalar() or 0

    def _statements(self):
        """The writer's statements, built once (building costs more than running them)."""
        if self._stmts is None:
            counter, bt = self.state.tables["counter"], self.state.tables["block"]
            bump = (counter.update().where(counter.c.name == "rev")
                    .values(value=counter.c.value + sa.bindparam("n")))
            self._stmts = {
                "bump": bump, "bump_returning": bump.returning(counter.c.value),
                "rev": sa.select(counter.c.value).where(counter.c.name == "rev"),
                "blocked": sa.select(bt.c.blocker_id, bt.c.blocked_id).where(
                    bt.c.blocked_id.in_(sa.bindparam("users", expanding=True)),
                    bt.c.blocker_id.in_(sa.bindparam("users2", expanding=True))),
            }
        return self._stmts

    def change(self, message_id, values):
        """Edit or delete: update the row with a new rev; return the new rev."""
        self.ensure_counter()
        t = self.state.table
        with self.state.engine.begin() as conn:
            rev = self.allocate_revs(conn, 1)
            conn.execute(t.update().where(t.c.id == message_id).values(rev=rev, **values))
        return rev

    def tombstone(self, message_ids):
        """Delete many messages at once, each with a rev of its own; return
        ``{message id: rev}``. One transaction (one counter lock) per call."""
        self.ensure_counter()
        t = self.state.table
        ids = sorted(message_ids)
        if not ids:
            return {}
        with self.state.engine.begin() as conn:
            first = self.allocate_revs(conn, len(ids))
            revs = {mid: first + i for i, mid in enumerate(ids)}
            conn.execute(t.update().where(t.c.id == sa.bindparam("mid")).values(
                rev=sa.bindparam("new_rev"), content="", deleted=True),
                [{"mid": mid, "new_rev": rev} for mid, rev in revs.items()])
        return revs

    def insert(self, values, check_blocks=False, link=None):
        """Commit one message (its column values but ``id`` and ``rev``);
        return ``(row, created)``. With ``check_blocks``, a direct message
        between users who blocked one another raises ``blocked`` instead.
        ``link(conn, message_id)``, if given, runs in the transaction that
        stores the message (attachments)."""
        values = {"sent_at": utcnow(), "read_at": None, "edited_at": None, "deleted": False,
                  "reply_to_id": None, "rev": None, **values}
        self.ensure_counter()
        pair = (values["sender_id"], values["recipient_id"]) if check_blocks else None
        if not self.group:
            return self._insert_one(values, pair, link)
        eio = self.state.socketio.server.eio
        item = _Pending(values, eio.create_event(), pair, link)
        with self._lock:
            if self._queue is None:
                self._queue = eio.create_queue()
            self._queue.put(item)
            if not self._writing:
                self._writing = True
                self.state.socketio.start_background_task(self._write_loop)
        # The writer answers every item, also when a commit fails or the
        # writer is stopped; the timeout only guards against the unforeseen.
        if not item.done.wait(60):
            raise TimeoutError("the message writer did not answer")
        if item.error is not None:
            raise item.error
        return item.result

    # -- group commit --------------------------------------------------------
    def _write_loop(self):
        empty = self.state.socketio.server.eio.get_queue_empty_exception()
        batch = []
        try:
            while True:
                try:
                    batch = [self._queue.get(timeout=WRITER_IDLE)]
                except empty:
                    with self._lock:
                        if self._queue.empty():
                            self._writing = False
                            return
                    continue
                # What queued up during the last commit goes into this one.
                while len(batch) < self.batch_max:
                    try:
                        batch.append(self._queue.get_nowait())
                    except empty:
                        break
                self._commit_batch(batch)
        except BaseException:  # killed (shutdown): fail what waits, let a new writer start
            with self._lock:
                self._writing = False
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
            for item in batch:
                if not item.done.is_set():
                    item.error = RuntimeError("the message writer stopped")
                    item.done.set()
            raise

    def _commit_batch(self, batch):
        try:
            try:
                self._insert_many(batch, lookup=False)
            except IntegrityError:
                # A resend of a stored client_id (rare): answer it with its row.
                self._insert_many(batch, lookup=True)
        except (IntegrityError, errors.ChatError):
            # Another process stored one of these client_ids meanwhile, or one
            # send was refused inside the transaction (its ``link`` found an
            # upload no longer held for it): each goes on alone, from scratch.
            for item in batch:
                item.result = item.error = None
                self._settle(item, self._insert_one, item.values, item.pair, item.link)
        except Exception as exc:  # every sender must hear back, whatever happened
            for item in batch:
                item.error = exc
        for item in batch:
            item.done.set()

    @staticmethod
    def _settle(item, fn, *args):
        try:
            item.result = fn(*args)
        except Exception as exc:
            item.error = exc

    def _insert_many(self, batch, lookup):
        """One transaction for the batch; a repeated client_id gets the first row.

        Without ``lookup`` it trusts the unique index to refuse a stored
        client_id, which saves a query per batch on the common path.
        """
        t = self.state.table
        with self.state.engine.begin() as conn:
            stored = self._stored_keys(conn, batch) if lookup else {}
            blocked = self._blocked(conn, [i.pair for i in batch if i.pair is not None])
            fresh, first = [], {}
            for item in batch:
                if item.pair is not None and item.pair in blocked:
                    item.error = errors.blocked()
                    continue
                v = item.values
                key = (v["sender_id"], v["client_id"]) if v["client_id"] is not None else None
                if key in stored:
                    item.result = (stored[key], False)
                elif key in first:
                    item.result = first[key]  # filled in below, after the insert
                else:
                    fresh.append(item)
                    if key is not None:
                        first[key] = item
            if fresh:
                first_rev = self.allocate_revs(conn, len(fresh))
                for n, item in enumerate(fresh):
                    item.values["rev"] = first_rev + n
            ids = self._insert_rows(conn, t, [i.values for i in fresh])
            for item, new_id in zip(fresh, ids):
                if item.link is not None:
                    item.link(conn, new_id)
        for item, new_id in zip(fresh, ids):
            item.result = (SimpleNamespace(id=new_id, **item.values), True)
        for item in batch:
            if isinstance(item.result, _Pending):
                item.result = (item.result.result[0], False)

    def _blocked(self, conn, pairs):
        """The (a, b) of ``pairs`` where a blocked b or b blocked a: one query."""
        if not pairs:
            return set()
        users = list({u for p in pairs for u in p})
        rows = conn.execute(self._statements()["blocked"],
                            {"users": users, "users2": users}).all()
        if not rows:
            return set()
        edges = {(r[0], r[1]) for r in rows}
        return {p for p in pairs if p in edges or (p[1], p[0]) in edges}

    def _stored_keys(self, conn, batch):
        t = self.state.table
        keys = {(i.values["sender_id"], i.values["client_id"]) for i in batch
                if i.values["client_id"] is not None}
        if not keys:
            return {}
        # OR of pairs, not a tuple IN: SQLite answers that with a table scan.
        rows = conn.execute(sa.select(t).where(sa.or_(
            *(sa.and_(t.c.sender_id == s, t.c.client_id == c) for s, c in keys))))
        return {(r.sender_id, r.client_id): r for r in rows}

    @staticmethod
    def _insert_rows(conn, t, rows):
        if not rows:
            return []
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            result = conn.execute(
                t.insert().returning(t.c.id, sort_by_parameter_order=True), rows)
            return list(result.scalars())
        return [conn.execute(t.insert().values(r)).inserted_primary_key[0] for r in rows]

    def _insert_one(self, values, pair=None, link=None):
        t = self.state.table
        client_id = values["client_id"]
        try:
            with self.state.engine.begin() as conn:
                if pair is not None and self._blocked(conn, [pair]):
                    raise errors.blocked()
                values["rev"] = self.allocate_revs(conn, 1)
                new_id = conn.execute(t.insert().values(values)).inserted_primary_key[0]
                if link is not None:
                    link(conn, new_id)
        except IntegrityError:
            # Another send with this client_id won the race: answer with its row.
            row = client_id is not None and self.find_by_client_id(
                values["sender_id"], client_id)
            if not row:
                raise
            return row, False
        return SimpleNamespace(id=new_id, **values), True

