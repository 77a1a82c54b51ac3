"""``threadline user`` and ``threadline token``: manage the server's accounts.

They work on the server database directly (``--database-url``, else ``THREADLINE_DATABASE_URL``,
else the SQLite file in the data folder), so run them where the server runs. Logic lives in
:mod:`threadline.services.accounts`; heavy imports happen inside the commands.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from threadline.storage.database import Database

ENV_PASSWORD = "THREADLINE_PASSWORD"

database_url_option = click.option(
    "--database-url",
    default=None,
    help="Server database.  [default: $THREADLINE_DATABASE_URL, else server.db in the data folder]",
)


def _open(database_url: str | None) -> Database:
    from threadline.server.settings import default_database_url
    from threadline.storage.database import open_database

    return open_database(database_url or default_database_url())


@click.group()
def user() -> None:
    """Manage the server's users."""


@user.command("create")
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@database_url_option
def user_create(name: str, is_admin: bool, password_stdin: bool, database_url: str | None) -> None:
    """Create user NAME (asks for the password twice when interactive)."""
    from threadline.services import accounts

    password = _password(password_stdin)
    created = accounts.create_user(_open(database_url), name, password, is_admin=is_admin)
    role = "administrator" if created.is_admin else "user"
    click.echo(f"Created {role} {created.name}.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get(ENV_PASSWORD)
    if env:
        return env
    if not sys.stdin.isatty():
        raise click.UsageError(f"no password: pass --password-stdin or set {ENV_PASSWORD}")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user.command("list")
@database_url_option
def user_list(database_url: str | None) -> None:
    """List users."""
    from threadline.services import accounts

    rows = [
        [u.name, "yes" if u.is_admin else "", u.created_at]
        for u in accounts.list_users(_open(database_url))
    ]
    _table(["NAME", "ADMIN", "CREATED"], rows)


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "user_name", required=True, help="Whose token.")
@click.option("--name", default="", help="What the token is for (e.g. a device name).")
@database_url_option
def token_create(user_name: str, name: str, database_url: str | None) -> None:
    """Create a token and print its secret (shown only this once)."""
    from threadline.services import accounts

    new = accounts.create_token(_open(database_url), user_name, name)
    click.echo(f"Token {new.id} for {new.user}; it is shown only now:", err=True)
    click.echo(new.secret)


@token.command("list")
@click.option("--user", "user_name", default=None, help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_url_option
def token_list(user_name: str | None, as_json: bool, database_url: str | None) -> None:
    """List tokens (never their secrets)."""
    import dataclasses
    import json

    from threadline.services import accounts

    tokens = accounts.list_tokens(_open(database_url), user_name)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(t) for t in tokens], indent=2))
        return
    rows = [
        [str(t.id), t.user, t.name, t.prefix + "…", t.last_used_at or "never", _state(t.revoked_at)]
        for t in tokens
    ]
    _table(["ID", "USER", "NAME", "PREFIX", "LAST USED", "STATE"], rows)


@token.command("revoke")
@click.argument("token_id", type=int)
@database_url_option
def token_revoke(token_id: int, database_url: str | None) -> None:
    """Revoke token ID; it stops working at once."""
    from threadline.services import accounts

    revoked = accounts.revoke_token(_open(database_url), token_id)
    click.echo(f"Revoked token {revoked.id} of {revoked.user}.")


def _state(revoked_at: str | None) -> str:
    return f"revoked {revoked_at}" if revoked_at else "active"


def _table(header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
