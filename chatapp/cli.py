"""``flask chat ...``: chat's own administration commands."""
import click
from flask import current_app
from flask.cli import AppGroup

from . import i18n
from .i18n import _

chat_cli = AppGroup("chat", help="Chat administration.")


@chat_cli.command("init-db")
def init_db():
    """Create chat's tables (and the site's, in the same metadata) if missing."""
    i18n.use_environment_locale()
    state = current_app.extensions["chat"]
    state.db.create_all()
    click.echo(_("Tables ready in %(url)s",
                 url=state.engine.url.render_as_string(hide_password=True)))
