"""``flask chat ...``: database set-up, users and demo accounts."""
import secrets

import click
from flask import current_app
from flask.cli import AppGroup

chat_cli = AppGroup("chat", help="Chat administration.")


@chat_cli.command("init-db")
def init_db():
    """Create chat's tables (and the standalone users table) if missing, or
    bring them to this release's schema."""
    from . import migrate

    state = current_app.extensions["chat"]
    migrate.prepare(state)
    click.echo(f"Tables ready in {state.engine.url.render_as_string(hide_password=True)}")


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


@chat_cli.command("create-user")
@click.argument("name")
@click.password_option()
def create_user(name, password):
    """Create a standalone user NAME (asks for the password)."""
    from .auth import register_user
    from .errors import ChatError

    try:
        user = register_user(name, password)
    except ChatError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created user {user.username} (id {user.id}).")


@chat_cli.command("demo")
@click.option("--password", default=None, help="Password for every demo user.")
def demo(password):
    """Create demo users alice, bob and carol, sharing one printed password."""
    from .accounts import User
    from .auth import register_user

    password = password or secrets.token_urlsafe(9)
    made = []
    for name in ("alice", "bob", "carol"):
        user = User.by_name(name)
        if user is None:
            register_user(name, password)
            made.append(name)
        else:
            user.set_password(password)
            state = current_app.extensions["chat"]
            state.db.session.commit()
            made.append(name)
    click.echo(f"Demo users: {', '.join(made)}; password: {password}")
    click.echo("Log in as two of them in two browser windows and chat.")


@chat_cli.command("cleanup")
@click.option("--older-than", default=86400, show_default=True, type=click.IntRange(min=0),
              help="Seconds an unsent upload is kept.")
def cleanup(older_than):
    """Remove uploads never sent in a message (run it daily, e.g. from cron)."""
    removed = current_app.extensions["chat"].uploads.cleanup(older_than)
    click.echo(f"Removed {removed} unsent upload(s).")
