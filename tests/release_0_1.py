"""The schema of chatapp release 0.1, frozen: what its ``create_all`` made.

Copied from release 0.1's ``chatapp/models.py`` (the message table) and
``chatapp/accounts.py`` (the standalone users table), so the migration tests
start from a database exactly like the ones sites run today.
"""
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def metadata(prefix="chat_", user_id_type=None):
    md = sa.MetaData()
    uid = user_id_type if user_id_type is not None else sa.Integer()
    sa.Table(
        "users", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("username_key", sa.String(32), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        f"{prefix}message", md,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("sender_id", uid, nullable=False),
        sa.Column("recipient_id", uid, nullable=False),
        sa.Column("content", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
                  nullable=False),
        sa.Column("sent_at", _TIMESTAMP, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("read_at", _TIMESTAMP, nullable=True),
        sa.Index(f"ix_{prefix}message_pair", "sender_id", "recipient_id", "id"),
        sa.Index(f"ix_{prefix}message_inbox", "recipient_id", "sender_id", "read_at"),
        sa.UniqueConstraint("sender_id", "client_id", name=f"uq_{prefix}message_client"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    return md
