"""The standalone site's users get a session generation (revocable sessions).

Existing users get 0: their sessions from before (whose Flask-Login id is the
bare user id) stay valid until they first log out, change their password or
are deleted; new users and every revocation get a random non-zero value.

Revision ID: 0004_session_generation
Revises: 0003_uploads_search
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from chatapp.migrate import settings

revision = "0004_session_generation"
down_revision = "0003_uploads_search"
branch_labels = None
depends_on = None


def upgrade():
    if not settings().owns_users:
        return  # a host's users: their sessions are the host's
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}
    if "session_gen" in columns:
        return
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_gen", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade():
    if settings().owns_users:
        with op.batch_alter_table("users") as batch:
            batch.drop_column("session_gen")
