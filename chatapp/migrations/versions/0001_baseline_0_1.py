"""Baseline: the schema of release 0.1 (direct messages only).

A database made by 0.1 (``create_all``, no version table) already has these
tables: each is created only when missing, so the revision adopts it as is.

Revision ID: 0001_baseline_0_1
Revises:
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from chatapp.migrate import settings

revision = "0001_baseline_0_1"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def upgrade():
    s = settings()
    p = s.prefix
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if s.owns_users and "users" not in existing:
        op.create_table(
            "users",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("username", sa.String(32), nullable=False),
            sa.Column("username_key", sa.String(32), nullable=False, unique=True),
            sa.Column("password_hash", sa.String(255), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
        )
    if f"{p}message" not in existing:
        op.create_table(
            f"{p}message",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True, autoincrement=True),
            sa.Column("sender_id", s.user_id_type, nullable=False),
            sa.Column("recipient_id", s.user_id_type, nullable=False),
            sa.Column("content", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"),
                      nullable=False),
            sa.Column("sent_at", TIMESTAMP, nullable=False),
            sa.Column("client_id", sa.String(64), nullable=True),
            sa.Column("read_at", TIMESTAMP, nullable=True),
            sa.UniqueConstraint("sender_id", "client_id", name=f"uq_{p}message_client"),
            mysql_charset="utf8mb4",
            mysql_collate="utf8mb4_bin",
        )
        op.create_index(f"ix_{p}message_pair", f"{p}message",
                        ["sender_id", "recipient_id", "id"])
        op.create_index(f"ix_{p}message_inbox", f"{p}message",
                        ["recipient_id", "sender_id", "read_at"])


def downgrade():
    s = settings()
    op.drop_table(f"{s.prefix}message")
    if s.owns_users:
        op.drop_table("users")
