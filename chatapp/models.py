"""Chat's tables and time helpers: SQLAlchemy only, no Flask request state.

The message table is built per metadata (the host's or chat's own) because its
name prefix and the type of its user-id columns follow the host's settings.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def message_table(metadata, prefix="chat_", user_id_type=None):
    """Return the message table in ``metadata``, defining it on first use."""
    name = f"{prefix}message"
    if name in metadata.tables:
        return metadata.tables[name]
    uid = user_id_type if user_id_type is not None else sa.Integer()
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("sender_id", uid, nullable=False),
        sa.Column("recipient_id", uid, nullable=False),
        sa.Column("content", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
                  nullable=False),
        sa.Column("sent_at", _TIMESTAMP, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("read_at", _TIMESTAMP, nullable=True),
        # History of one pair, either direction, newest first: a range scan.
        sa.Index(f"ix_{prefix}message_pair", "sender_id", "recipient_id", "id"),
        # A user's received messages by sender; unread ones (read_at NULL) are
        # a range of their own, so unread counts never read the whole chat.
        sa.Index(f"ix_{prefix}message_inbox", "recipient_id", "sender_id", "read_at"),
        # Idempotent sends: one client_id per sender (NULLs never collide).
        sa.UniqueConstraint("sender_id", "client_id", name=f"uq_{prefix}message_client"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


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


def message_dict(row):
    """A stored message row as the contract's Message object."""
    return {
        "id": row.id,
        "from": row.sender_id,
        "to": row.recipient_id,
        "content": row.content,
        "sent_at": iso(row.sent_at),
        "client_id": row.client_id,
        "read_at": iso(row.read_at),
    }
