"""``flask chat ...`` on the standalone site: chat's commands, plus its users
and demo accounts."""
import secrets

import click
from flask.cli import AppGroup

from .. import cli as chat_commands
from ..errors import ChatError
from .auth import register_user
from .models import User, db

chat_cli = AppGroup("chat", help="Chat administration.")
for command in chat_commands.chat_cli.commands.values():
    chat_cli.add_command(command)


@chat_cli.command("create-user")
@click.argument("name")
@click.password_option()
def create_user(name, password):
    """Create a standalone user NAME (asks for the password)."""
    try:
        user = register_user(name, password)
    except ChatError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Created user {user.username} (id {user.id}).")


@chat_cli.command("demo")
@click.option("--password", default=None, help="Password for every demo user.")
def demo(password):
    """Create demo users alice, bob and carol, sharing one printed password."""
    password = password or secrets.token_urlsafe(9)
    made = []
    for name in ("alice", "bob", "carol"):
        user = User.by_name(name)
        if user is None:
            register_user(name, password)
        else:
            user.set_password(password)
            db.session.commit()
        made.append(name)
    click.echo(f"Demo users: {', '.join(made)}; password: {password}")
    click.echo("Log in as two of them in two browser windows and chat.")
