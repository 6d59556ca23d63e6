"""``flask chat ...`` on the standalone site: chat's commands, plus its users
and demo accounts."""
import secrets

import click
from flask.cli import AppGroup

from .. import cli as chat_commands
from .. import i18n
from ..errors import ChatError
from ..i18n import _
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
    i18n.use_environment_locale()
    try:
        user = register_user(name, password)
    except ChatError as exc:
        raise click.ClickException(str(exc.message)) from None
    click.echo(_("Created user %(name)s (id %(id)s).", name=user.username, id=user.id))


@chat_cli.command("demo")
@click.option("--password", default=None, help="Password for every demo user.")
def demo(password):
    """Create demo users alice, bob and carol, sharing one printed password."""
    i18n.use_environment_locale()
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
    click.echo(_("Demo users: %(names)s; password: %(password)s",
                 names=", ".join(made), password=password))
    click.echo(_("Log in as two of them in two browser windows and chat."))
