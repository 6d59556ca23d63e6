"""Alembic environment of chat's own revisions.

Everything comes from the running Flask app's chat state (``flask db ...`` in
the standalone app, ``flask chat db-upgrade`` in a host): the engine, the
table prefix, the type of user ids and whether chat owns the users table.
Chat keeps its revision in its own version table (``<prefix>alembic_version``),
so a host's own Alembic history never meets chat's.
"""
from alembic import context
from flask import current_app

from chatapp.migrate import configure_context

configure_context(context, None if "connection" in context.config.attributes
                  else current_app.extensions["chat"])
