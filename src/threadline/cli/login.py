"""``threadline login`` and ``threadline logout``.

``login`` asks for a user name and password (or takes ``--user`` with ``--password-stdin`` or
``THREADLINE_PASSWORD``, or a ready ``--token``), gets a device token from the server and
stores it in ``credentials.json`` with file mode 0600. The password is never stored, and no
error repeats what was typed at a prompt: a password typed there by mistake stays unseen. With
``--password-stdin`` nothing is asked (standard input holds the password).
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

import click

from threadline import config as config_mod
from threadline import paths
from threadline.cli.common import store
from threadline.client.api import Api
from threadline.errors import ClientError, InvalidInput, NotLoggedIn
from threadline.store import db


@click.command("login")
@click.option(
    "--server",
    "server_url",
    envvar="THREADLINE_SERVER_URL",
    help="Server URL, e.g. http://127.0.0.1:8787.",
)
@click.option("-u", "--user", "username", help="User name (asked for when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--token", help="Use this device token instead of a user name and password.")
@click.option("--device-name", help="Name of this machine on the server (default: host name).")
def login(
    server_url: str | None,
    username: str | None,
    password_stdin: bool,
    token: str | None,
    device_name: str | None,
) -> None:
    """Sign in to a Threadline server and store a device token for this machine."""
    cfg = config_mod.load({"server_url": server_url})
    url = _server_url(cfg.server_url, given=server_url, ask=not password_stdin)
    if token:
        me = Api(url, token).me()
        user = me["user"]
    else:
        if not username and password_stdin:
            raise InvalidInput(
                "--password-stdin needs --user",
                hint="Run `threadline login --user NAME --password-stdin` (nothing is asked).",
            )
        user = username or click.prompt("User")
        password = _password(password_stdin)
        with store() as conn:
            device = db.device_id(conn)
        name = device_name or cfg.get("device_name") or socket.gethostname()
        answer = Api(url).login(user, password, device, name)
        token = answer["token"]
    path = config_mod.write_credentials({"server_url": url, "token": token, "user": user})
    click.echo(f"Logged in to {url} as {user}. Token stored in {path} (mode 0600).")


def _server_url(configured: str | None, *, given: str | None, ask: bool) -> str:
    """The server's base URL, asked for only when ``ask`` and none is configured. A bad URL
    is shown back only when it came from ``--server`` (or its variable): one typed at the
    prompt may be a password."""
    if configured:
        url, typed = configured, False
    elif ask:
        url, typed = str(click.prompt("Server URL")), True
    else:
        raise NotLoggedIn(
            "no server URL (nothing is asked with --password-stdin)",
            hint="Pass --server URL or set THREADLINE_SERVER_URL, e.g. http://127.0.0.1:8787.",
        )
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = repr(url) if not typed and url == (given or "").strip().rstrip("/") else None
        raise InvalidInput(
            f"the server URL {shown} is not an http(s) URL"
            if shown
            else "the server URL is not an http(s) URL (it is not repeated here)",
            hint="Give it as http://HOST:PORT or https://HOST, e.g. http://127.0.0.1:8787.",
        )
    return url


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get("THREADLINE_PASSWORD"):
        return os.environ["THREADLINE_PASSWORD"]
    return str(click.prompt("Password", hide_input=True))


@click.command("logout")
def logout() -> None:
    """Revoke this machine's token on the server and forget it locally."""
    creds = config_mod.read_credentials()
    path = paths.credentials_file()
    if not creds:
        click.echo("Not logged in.")
        return
    try:
        Api(creds.get("server_url"), creds.get("token"), timeout=5.0).revoke_own_token()
        revoked = "revoked on the server"
    except ClientError as exc:
        revoked = (
            f"not revoked on the server ({exc.message}); "
            "revoke it there with `threadline token revoke`"
        )
    path.unlink(missing_ok=True)
    click.echo(f"Logged out: token {revoked}; {path} removed.")
