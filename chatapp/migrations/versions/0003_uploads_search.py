"""Contract v2.0: uploads (attachments) and the message search index.

The upload table records each uploaded file and, once sent, its message. The
search index is each database's own (``chatapp.search``): an FTS5 trigram
table kept by triggers on SQLite (filled here from the stored messages), a
``pg_trgm`` GIN index on PostgreSQL, nothing on MariaDB/MySQL.

SQLite: a later revision that rebuilds the message table (``batch_alter_table``
copies it) must create the search triggers again (``search.index_ddl``).

Revision ID: 0003_uploads_search
Revises: 0002_conversations
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from chatapp import search
from chatapp.migrate import settings

revision = "0003_uploads_search"
down_revision = "0002_conversations"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
UTF8 = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade():
    s = settings()
    p = s.prefix
    op.create_table(
        f"{p}upload",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("uploader_id", s.user_id_type, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumb_type", sa.String(100), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=True),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("claimed_at", TIMESTAMP, nullable=True),
        **UTF8,
    )
    op.create_index(f"ix_{p}upload_message", f"{p}upload", ["message_id", "created_at"])
    bind = op.get_bind()
    for stmt in search.index_ddl(bind.dialect.name, p):
        op.execute(stmt)


def downgrade():
    s = settings()
    p = s.prefix
    for stmt in search.drop_ddl(op.get_bind().dialect.name, p):
        op.execute(stmt)
    op.drop_index(f"ix_{p}upload_message", table_name=f"{p}upload")
    op.drop_table(f"{p}upload")
