"""``threadline sync`` (deliver everything pending now) and ``threadline sync status``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click

from threadline.cli.common import api, load_config, print_json, store, when
from threadline.errors import ClientError, NotLoggedIn, ThreadlineError
from threadline.protocol.text import counted
from threadline.store import db, notes
from threadline.store import handoff as handoff_store
from threadline.sync import deliver

#: Show a progress bar when at least this many entries are pending (and stderr is a terminal).
PROGRESS_OVER = 500


@click.group("sync", invoke_without_command=True)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for another process that is delivering.",
)
@click.option(
    "--retry-blocked",
    is_flag=True,
    help="Try again streams the server refused earlier (after fixing the cause).",
)
@click.pass_context
def sync(ctx: click.Context, timeout: float, retry_blocked: bool) -> None:
    """Deliver everything pending to the server now."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = load_config()
    with store() as conn:
        if retry_blocked:
            notes.unblock_all(conn)
            handoff_store.clear_errors(conn)
        with progress_bar() as progress:
            result = deliver.deliver_pending(
                conn, cfg, timeout=60.0, lock_timeout=timeout, reconcile=True, progress=progress
            )
        if result.reason == deliver.LOCK_HELD:
            raise click.ClickException(
                f"another threadline process kept delivering for {timeout:g} s; try again"
            )
        if result.error is not None:
            raise result.error
        left = notes.pending_count(conn)
        saves_left = len(handoff_store.pending(conn))
    click.echo(
        f"Delivered {result.stored:,} new {'entry' if result.stored == 1 else 'entries'} in "
        f"{counted(result.batches, 'batch', 'batches')}"
        f" ({result.duplicates:,} already on the server); {left:,} pending."
    )
    if result.saves_uploaded or saves_left:
        click.echo(f"Uploaded {counted(len(result.saves_uploaded), 'save')}; {saves_left} waiting.")
    for reason in result.blocked + result.saves_refused:
        click.echo(f"Blocked: {reason}", err=True)
    if left or result.blocked or saves_left:  # a refused stream's entries are left too
        ctx.exit(1)


@contextmanager
def progress_bar() -> Iterator[Callable[[int, int], None]]:
    """The ``progress`` callback of a delivery: a bar on stderr once at least
    ``PROGRESS_OVER`` entries are pending and stderr is a terminal, else nothing."""
    with ExitStack() as stack:
        bars: list[Any] = []

        def advance(sent: int, pending: int) -> None:
            if not bars:
                show = pending >= PROGRESS_OVER and sys.stderr.isatty()
                bar = click.progressbar(length=pending, label="Delivering", file=sys.stderr)
                bars.append(stack.enter_context(bar) if show else None)
            if bars[0] is not None and sent:
                bars[0].update(sent)

        yield advance


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Show pending entries, the last success and error, and whether the server answers."""
    cfg = load_config()
    with store() as conn:
        info: dict[str, Any] = {
            "server_url": cfg.server_url,
            "user": cfg.get("user"),
            "device_id": db.device_id(conn),
            "pending": notes.pending_count(conn),
            "pending_saves": len(handoff_store.pending(conn)),
            "blocked": notes.blocked_streams(conn),
            "last_success": db.get_state(conn, "last_success"),
            "last_attempt": db.get_state(conn, "last_attempt"),
            "last_error": db.get_state(conn, "last_error"),
        }
    info.update(_probe(cfg))
    if as_json:
        print_json(info)
        return
    rows = [
        ("Server", info["server_url"] or "not configured (threadline login --server URL)"),
        ("Server answers", info["server"]),
        ("User", info["user"] or "-"),
        ("Device", info["device_id"]),
        ("Pending entries", str(info["pending"])),
        *([("Pending saves", str(info["pending_saves"]))] if info["pending_saves"] else []),
        ("Last success", when(info["last_success"])),
        ("Last error", info["last_error"] or "-"),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<17}{value}")
    for b in info["blocked"]:
        click.echo(
            f"Blocked stream {b['project']}/{b['name']} ({b['pending']} entries): {b['blocked']}"
        )


def _probe(cfg: Any) -> dict[str, Any]:
    """Does the server answer, and does it accept our token? Never raises."""
    started = time.monotonic()
    try:
        client = api(cfg, timeout=3.0)
        client.healthz(timeout=3.0)
        client.me(timeout=3.0)
    except NotLoggedIn as exc:
        return {"server": f"unknown ({exc.message})", "server_ok": False}
    except ThreadlineError as exc:
        reason = exc.message if isinstance(exc, ClientError) else str(exc)
        return {"server": f"no: {reason}", "server_ok": False}
    ms = (time.monotonic() - started) * 1000
    return {"server": f"yes ({ms:.0f} ms)", "server_ok": True}
