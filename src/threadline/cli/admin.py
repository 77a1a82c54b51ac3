"""``threadline user`` and ``threadline token``: manage the server's accounts.

They work on the server database directly (``--database-url``, else ``THREADLINE_DATABASE_URL``,
else the SQLite file in the data folder), so run them where the server runs. They never
create that database: on a missing SQLite file, or a database without Threadline's tables, they
stop with an error naming where they looked (``threadline serve`` creates and migrates it).
Logic lives in :mod:`threadline.services.accounts`; heavy imports happen inside the commands.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from threadline.errors import ConfigError

if TYPE_CHECKING:
    import sqlalchemy as sa

    from threadline.storage.database import Database

ENV_PASSWORD = "THREADLINE_PASSWORD"
#: The table every migrated server database has (:mod:`threadline.storage.migrations`).
_MARKER_TABLE = "schema_migrations"
_ELSEWHERE = "choose another database with --database-url or THREADLINE_DATABASE_URL"

database_url_option = click.option(
    "--database-url",
    default=None,
    help="Server database.  [default: $THREADLINE_DATABASE_URL, else server.db in the data folder]",
)


def _open(database_url: str | None) -> Database:
    from threadline.server.settings import default_database_url
    from threadline.storage.database import open_database

    url = database_url or default_database_url()
    require_server_database(url)
    return open_database(url)


def require_server_database(url: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is a server database ``threadline serve``
    has set up: an existing SQLite file, or a database holding Threadline's tables. Nothing is
    created or changed."""
    import sqlalchemy as sa

    from threadline.storage.database import normalize_url

    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        shown, migrated = _sqlite_state(parsed.database or "")
    else:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        migrated = _postgresql_migrated(parsed, shown)
    if not migrated:
        raise ConfigError(
            f"the database {shown} holds no Threadline tables",
            hint=f"Run `threadline serve` once with it to set it up, or {_ELSEWHERE}.",
        )


def _sqlite_state(database: str) -> tuple[str, bool]:
    """The file's path and whether it holds Threadline's tables; :class:`ConfigError` if
    there is no such file."""
    import sqlite3
    from pathlib import Path
    from urllib.parse import quote

    path = Path(database).expanduser() if database not in ("", ":memory:") else None
    if path is None or not path.is_file():
        raise ConfigError(
            f"no server database at {path or 'sqlite:///' + database}",
            hint=f"`threadline serve` creates it; run this where the server runs, or {_ELSEWHERE}.",
        )
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=rw", uri=True)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_MARKER_TABLE,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(
            f"cannot read the database {path}: {exc}", hint=f"Check the file, or {_ELSEWHERE}."
        ) from None
    return str(path), found is not None


def _postgresql_migrated(url: sa.URL, shown: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).has_table(_MARKER_TABLE)
    except sa.exc.OperationalError as exc:
        raise ConfigError(
            f"cannot connect to the database {shown}: {str(exc.orig).strip()}",
            hint=f"Check that it runs and the URL is right, or {_ELSEWHERE}.",
        ) from None
    finally:
        engine.dispose()


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
