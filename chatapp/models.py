"""Chat's tables and time helpers: SQLAlchemy only, no Flask request state.

The message table is built per metadata (the host's or chat's own) because its
name prefix and the type of its user-id columns follow the host's settings.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def _bigint():
    # SQLite only makes INTEGER PRIMARY KEY columns autoincrement (rowid).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text():
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


_MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def message_table(metadata, prefix="chat_", user_id_type=None):
    """Return the message table in ``metadata``, defining chat's tables on first use."""
    name = f"{prefix}message"
    if name not in metadata.tables:
        define_tables(metadata, prefix, user_id_type)
    return metadata.tables[name]


def define_tables(metadata, prefix="chat_", user_id_type=None):
    """Chat's tables (schema of contract v2.0) in ``metadata``; return them by short name.

    ``chatapp/migrations`` holds the revisions that lead an older database
    here; a change to these tables needs a revision there too.
    """
    uid = user_id_type if user_id_type is not None else sa.Integer()
    p = prefix
    if f"{p}message" in metadata.tables:
        return {k: metadata.tables[f"{p}{k}"]
                for k in ("message", "conversation", "member", "block", "counter", "upload")}
    message = sa.Table(
        f"{p}message", metadata,
        sa.Column("id", _bigint(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", uid, nullable=False),
        # The other user of a direct conversation; NULL in a group.
        sa.Column("recipient_id", uid, nullable=True),
        sa.Column("content", _text(), nullable=False),
        sa.Column("sent_at", _TIMESTAMP, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("read_at", _TIMESTAMP, nullable=True),
        sa.Column("edited_at", _TIMESTAMP, nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reply_to_id", sa.BigInteger(), nullable=True),
        # Server-wide change number: set on insert, set anew on edit/delete.
        sa.Column("rev", sa.BigInteger(), nullable=False),
        # History of one conversation, newest first: a range scan.
        sa.Index(f"ix_{p}message_conversation", "conversation_id", "id"),
        # Catch-up (sync): what changed after a rev, per conversation.
        sa.Index(f"ix_{p}message_conversation_rev", "conversation_id", "rev"),
        # A user's received direct messages by sender; unread ones (read_at
        # NULL) are a range of their own, so unread counts never read the whole chat.
        sa.Index(f"ix_{p}message_inbox", "recipient_id", "sender_id", "read_at"),
        # Idempotent sends: one client_id per sender (NULLs never collide).
        sa.UniqueConstraint("sender_id", "client_id", name=f"uq_{p}message_client"),
        **_MYSQL,
    )
    conversation = sa.Table(
        f"{p}conversation", metadata,
        sa.Column("id", _bigint(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),  # "direct" | "group"
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("owner_id", uid, nullable=True),
        # A direct conversation's two users, the lower id first: one per pair.
        sa.Column("user_low", uid, nullable=True),
        sa.Column("user_high", uid, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        # Where a group without messages sorts among conversations: the
        # newest message id when it was made.
        sa.Column("sort_floor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.UniqueConstraint("user_low", "user_high", name=f"uq_{p}conversation_pair"),
        **_MYSQL,
    )
    member = sa.Table(
        f"{p}member", metadata,
        sa.Column("conversation_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", uid, primary_key=True, autoincrement=False),
        sa.Column("joined_at", _TIMESTAMP, nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), nullable=True),
        sa.Index(f"ix_{p}member_user", "user_id", "conversation_id"),
        **_MYSQL,
    )
    block = sa.Table(
        f"{p}block", metadata,
        sa.Column("blocker_id", uid, primary_key=True, autoincrement=False),
        sa.Column("blocked_id", uid, primary_key=True, autoincrement=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Index(f"ix_{p}block_blocked", "blocked_id"),
        **_MYSQL,
    )
    # One row per counter ("rev"): updated in the transaction that uses it,
    # its row lock orders those transactions, so revs commit in order.
    counter = sa.Table(
        f"{p}counter", metadata,
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        **_MYSQL,
    )
    upload = sa.Table(
        f"{p}upload", metadata,
        sa.Column("id", sa.String(32), primary_key=True),  # random, also the storage key
        sa.Column("uploader_id", uid, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumb_type", sa.String(100), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        # The message that carries it (NULL until sent) and its place there.
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=True),
        # Held by one send between its checks and its commit, so two sends
        # can never both carry it (a claim older than a minute is void).
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("claimed_at", _TIMESTAMP, nullable=True),
        # A message's attachments, and the unsent ones by age (cleanup).
        sa.Index(f"ix_{p}upload_message", "message_id", "created_at"),
        **_MYSQL,
    )
    return {"message": message, "conversation": conversation, "member": member,
            "block": block, "counter": counter, "upload": upload}


def storable(text):
    """Whether every database can hold ``text``: valid UTF-8 (no lone
    surrogates, which JSON can carry) and no NUL, which PostgreSQL refuses."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utcnow():
    """Naive UTC now, cut to milliseconds so stored and sent values agree."""
    now = datetime.now(timezone.utc)
    return now.replace(tzinfo=None, microsecond=now.microsecond // 1000 * 1000)


def iso(dt):
    """ISO 8601 UTC with milliseconds and ``Z``; ``None`` stays ``None``."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def message_dict(row, reply=None, attachments=None):
    """A stored message row as the contract's Message object.

    ``reply`` is the row ``row.reply_to_id`` names (``None`` when there is none
    or it is gone): quoted as its first 200 code points, or as a tombstone.
    ``attachments``: its Attachment objects (none once deleted).
    """
    deleted = bool(row.deleted)
    quote = None
    if row.reply_to_id is not None:
        if reply is None:
            quote = {"id": row.reply_to_id, "from": None, "content": "", "deleted": True}
        else:
            gone = bool(reply.deleted)
            quote = {"id": reply.id, "from": reply.sender_id,
                     "content": "" if gone else reply.content[:200], "deleted": gone}
    return {
        "id": row.id,
        "from": row.sender_id,
        "to": row.recipient_id,
        "content": "" if deleted else row.content,
        "sent_at": iso(row.sent_at),
        "client_id": row.client_id,
        "read_at": iso(row.read_at),
        "conversation": row.conversation_id,
        "edited_at": iso(row.edited_at),
        "deleted": deleted,
        "reply_to": quote,
        "attachments": [] if deleted else list(attachments or ()),
        "rev": row.rev,
    }
