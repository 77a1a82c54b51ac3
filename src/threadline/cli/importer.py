"""``threadline import``: backfill transcripts already on disk, then upload them.

Reading is resumable (each file's offset is stored with its lines) and idempotent: a second run
reads nothing new and sends nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import click

from threadline.cli.common import load_config, store, warn
from threadline.cli.sync import progress_bar
from threadline.protocol.text import counted
from threadline.sources.model import Agent
from threadline.store import notes
from threadline.sync import deliver
from threadline.sync.engine import Delivery
from threadline.watch import roots as roots_mod
from threadline.watch.tail import Exclusions, Tailer


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM", param_hint="--since"
            ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as the user means it
    return when.astimezone(UTC).timestamp()


def collect(
    paths: tuple[Path, ...], claude: bool, codex: bool, since: float | None
) -> list[tuple[Path, Agent | None]]:
    """The files to import: the given files and folders, else the agents' folders."""
    roots = roots_mod.agent_roots(claude or not codex, codex or not claude)
    found: list[tuple[Path, Agent | None]] = []
    if not paths:
        for root in roots:
            found += [(f, root.agent) for f in roots_mod.walk(root.path, since)]
        return found
    for path in paths:
        path = Path(os.path.abspath(path.expanduser()))
        if path.is_dir():
            found += [(f, roots_mod.agent_of_path(f, roots)) for f in roots_mod.walk(path, since)]
        elif path.is_file():
            found.append((path, roots_mod.agent_of_path(path, roots)))
        else:
            raise click.BadParameter(f"{path} does not exist", param_hint="PATH")
    return found


@click.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--claude", is_flag=True, help="Only Claude Code's folder.")
@click.option("--codex", is_flag=True, help="Only Codex's folder.")
@click.option("--since", metavar="DATE", help="Only files changed on or after DATE.")
@click.option("--no-upload", is_flag=True, help="Read into the local store only.")
def import_(
    paths: tuple[Path, ...], claude: bool, codex: bool, since: str | None, no_upload: bool
) -> None:
    """Backfill existing Claude Code and Codex transcripts (PATH: files or folders; default:
    the agents' own folders), then upload them. Safe to interrupt and to run again."""
    cfg = load_config()
    files = collect(paths, claude, codex, _since(since))
    sizes = [_size(f) for f, _ in files]  # measured once: the bar's total and its steps
    started = time.monotonic()
    counts = {"files": 0, "lines": 0, "bytes": 0, "excluded": 0, "malformed": 0}
    with store() as conn:
        tailer = Tailer(conn, Exclusions(cfg.exclude))
        with _progress(sum(sizes), len(files), counts) as advance:
            for (path, agent), size in zip(files, sizes, strict=True):
                try:
                    result = tailer.ingest(path, agent)
                except OSError as exc:
                    warn(f"cannot read {path}: {exc.strerror or exc}")
                    continue
                tailer.forget(path)
                counts["files"] += 1
                counts["lines"] += result.lines
                counts["bytes"] += result.bytes
                counts["excluded"] += bool(result.excluded)
                counts["malformed"] += result.malformed
                advance(size)
        seconds = time.monotonic() - started
        click.echo(
            f"Read {counts['files']} files: {counts['lines']:,} new lines "
            f"({counts['bytes'] / 1e6:.1f} MB) in {seconds:.1f} s"
            + (f"; {counts['excluded']} excluded" if counts["excluded"] else "")
            + (f"; {counts['malformed']} malformed lines kept" if counts["malformed"] else "")
        )
        pending = notes.pending_count(conn)
        if no_upload or pending == 0:
            if pending:
                click.echo(f"{pending:,} entries wait for `threadline sync`.")
            else:
                click.echo("Nothing new to upload.")
            return
        with progress_bar() as progress:
            delivery = deliver.deliver_pending(
                conn, cfg, timeout=120.0, lock_timeout=120.0, reconcile=True, progress=progress
            )
    _stop_unless_uploaded(delivery, pending)
    click.echo(
        f"Uploaded {counted(delivery.stored, 'entry', 'entries')} in "
        f"{counted(delivery.batches, 'batch', 'batches')} "
        f"({delivery.duplicates:,} {'was' if delivery.duplicates == 1 else 'were'} already on "
        "the server)."
    )


def _stop_unless_uploaded(delivery: Delivery, pending: int) -> None:
    """Say why the upload stopped short, and exit 1; a store that fails is an error."""
    if delivery.reason == deliver.NOT_LOGGED_IN:
        warn(f"{delivery.message}: {pending:,} entries are kept locally.")
        warn("Run `threadline login`, then `threadline sync`.")
    elif delivery.reason in (deliver.UNREACHABLE, deliver.REFUSED):
        warn(f"upload stopped: {delivery.message}; the rest is kept locally.")
        warn("`threadline sync` (or the daemon) sends it later.")
    elif delivery.reason == deliver.LOCK_HELD:
        warn("another process kept uploading; the daemon or `threadline sync` sends the rest")
    elif delivery.error is not None:
        raise delivery.error
    else:
        return
    raise SystemExit(1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextmanager
def _progress(total: int, files: int, counts: dict[str, int]) -> Iterator[Callable[[int], None]]:
    """A progress bar over bytes with files and lines beside it, on a terminal only; yields
    the function that advances it by a number of bytes."""
    if not sys.stderr.isatty() or files < 2:
        yield lambda n: None
        return

    def status(_: int | None) -> str:
        return (
            f"{counts['files']}/{files} files, {counts['lines']:,} lines, "
            f"{counts['bytes'] / 1e6:.1f} MB"
        )

    with click.progressbar(
        length=max(total, 1), label="Reading", file=sys.stderr, item_show_func=status
    ) as bar:
        yield bar.update
