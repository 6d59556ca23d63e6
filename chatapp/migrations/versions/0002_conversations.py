"""Contract v2.0: conversations (direct and group), members, blocks, edits,
deletes, replies and one server-wide change number (``rev``).

Every stored message moves into the direct conversation of its two users
(created here, with both as members); each message's ``rev`` starts as its id
and the ``rev`` counter continues from the highest.

Revision ID: 0002_conversations
Revises: 0001_baseline_0_1
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from chatapp.migrate import settings

revision = "0002_conversations"
down_revision = "0001_baseline_0_1"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTF8 = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade():
    s = settings()
    p, uid = s.prefix, s.user_id_type
    op.create_table(
        f"{p}conversation",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("owner_id", uid, nullable=True),
        sa.Column("user_low", uid, nullable=True),
        sa.Column("user_high", uid, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sort_floor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.UniqueConstraint("user_low", "user_high", name=f"uq_{p}conversation_pair"),
        **UTF8,
    )
    op.create_table(
        f"{p}member",
        sa.Column("conversation_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("user_id", uid, primary_key=True, autoincrement=False),
        sa.Column("joined_at", TIMESTAMP, nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), nullable=True),
        **UTF8,
    )
    op.create_index(f"ix_{p}member_user", f"{p}member", ["user_id", "conversation_id"])
    op.create_table(
        f"{p}block",
        sa.Column("blocker_id", uid, primary_key=True, autoincrement=False),
        sa.Column("blocked_id", uid, primary_key=True, autoincrement=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        **UTF8,
    )
    op.create_index(f"ix_{p}block_blocked", f"{p}block", ["blocked_id"])
    op.create_table(
        f"{p}counter",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        **UTF8,
    )
    with op.batch_alter_table(f"{p}message") as batch:
        batch.add_column(sa.Column("conversation_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("edited_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("reply_to_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("rev", sa.BigInteger(), nullable=True))

    move_messages_into_conversations(p, uid)

    with op.batch_alter_table(f"{p}message") as batch:
        batch.alter_column("conversation_id", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("rev", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("recipient_id", existing_type=uid, nullable=True)
        # History now reads one conversation's range instead of two pairs'.
        batch.drop_index(f"ix_{p}message_pair")
        batch.create_index(f"ix_{p}message_conversation", ["conversation_id", "id"])
        batch.create_index(f"ix_{p}message_conversation_rev", ["conversation_id", "rev"])


def move_messages_into_conversations(p, uid):
    message = sa.table(f"{p}message", sa.column("id", sa.BigInteger()),
                       sa.column("sender_id", uid), sa.column("recipient_id", uid),
                       sa.column("sent_at", TIMESTAMP),
                       sa.column("conversation_id", sa.BigInteger()),
                       sa.column("rev", sa.BigInteger()))
    conv = sa.table(f"{p}conversation", sa.column("id", sa.BigInteger()),
                    sa.column("kind", sa.String()), sa.column("user_low", uid),
                    sa.column("user_high", uid), sa.column("created_at", TIMESTAMP),
                    sa.column("sort_floor", sa.BigInteger()))
    member = sa.table(f"{p}member", sa.column("conversation_id", sa.BigInteger()),
                      sa.column("user_id", uid), sa.column("joined_at", TIMESTAMP))
    counter = sa.table(f"{p}counter", sa.column("name", sa.String()),
                       sa.column("value", sa.BigInteger()))
    m = message.c
    low = sa.case((m.sender_id < m.recipient_id, m.sender_id), else_=m.recipient_id)
    high = sa.case((m.sender_id < m.recipient_id, m.recipient_id), else_=m.sender_id)
    pairs = (sa.select(sa.literal("direct"), low, high, sa.func.min(m.sent_at), sa.literal(0))
             .group_by(low, high))
    op.execute(conv.insert().from_select(
        ["kind", "user_low", "user_high", "created_at", "sort_floor"], pairs))
    c = conv.c
    op.execute(message.update().values(conversation_id=sa.select(c.id).where(
        c.user_low == low, c.user_high == high).scalar_subquery(), rev=m.id))
    for side, where in ((c.user_low, sa.true()), (c.user_high, c.user_high != c.user_low)):
        op.execute(member.insert().from_select(
            ["conversation_id", "user_id", "joined_at"],
            sa.select(c.id, side, c.created_at).where(c.kind == "direct", where)))
    op.execute(counter.insert().from_select(
        ["name", "value"],
        sa.select(sa.literal("rev"), sa.func.coalesce(sa.func.max(m.id), 0))))


def downgrade():
    s = settings()
    p = s.prefix
    message = sa.table(f"{p}message", sa.column("recipient_id", s.user_id_type))
    # Group messages have no place in the 0.1 schema.
    op.execute(message.delete().where(message.c.recipient_id.is_(None)))
    with op.batch_alter_table(f"{p}message") as batch:
        batch.drop_index(f"ix_{p}message_conversation_rev")
        batch.drop_index(f"ix_{p}message_conversation")
        batch.create_index(f"ix_{p}message_pair", ["sender_id", "recipient_id", "id"])
        batch.alter_column("recipient_id", existing_type=s.user_id_type, nullable=False)
        for column in ("rev", "reply_to_id", "deleted", "edited_at", "conversation_id"):
            batch.drop_column(column)
    for table in ("counter", "block", "member", "conversation"):
        op.drop_table(f"{p}{table}")
