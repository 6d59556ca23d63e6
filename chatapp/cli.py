"""``flask chat ...``: chat's own administration commands."""
import click
from flask import current_app
from flask.cli import AppGroup

chat_cli = AppGroup("chat", help="Chat administration.")


@chat_cli.command("init-db")
def init_db():
    """Create chat's tables (and the site's, in the same metadata) if missing."""
    state = current_app.extensions["chat"]
    state.db.create_all()
    click.echo(f"Tables ready in {state.engine.url.render_as_string(hide_password=True)}")
