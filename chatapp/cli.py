"""``flask chat ...``: chat's own administration commands."""
import click
from flask import current_app
from flask.cli import AppGroup

from . import i18n
from .i18n import _

chat_cli = AppGroup("chat", help="Chat administration.")


@chat_cli.command("init-db")
def init_db():
    """Create chat's tables (and the site's, in the same metadata) if missing,
    or bring chat's to this release's schema."""
    from . import migrate

    i18n.use_environment_locale()
    state = current_app.extensions["chat"]
    migrate.prepare(state)
    click.echo(_("Tables ready in %(url)s",
                 url=state.engine.url.render_as_string(hide_password=True)))


@chat_cli.command("db-upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Run chat's schema revisions (a host site; the standalone app: flask db upgrade)."""
    from . import migrate

    state = current_app.extensions["chat"]
    adopted = migrate.adopt(state)
    if adopted:
        click.echo(f"Chat's tables had no revision: stamped {adopted}")
    migrate.upgrade(state, revision)
    click.echo(f"Chat's tables are at revision {migrate.current(state)}")


@chat_cli.command("cleanup")
@click.option("--older-than", default=86400, show_default=True, type=click.IntRange(min=0),
              help="Seconds an unsent upload is kept.")
def cleanup(older_than):
    """Remove uploads never sent in a message (run it daily, e.g. from cron)."""
    removed = current_app.extensions["chat"].uploads.cleanup(older_than)
    click.echo(f"Removed {removed} unsent upload(s).")
