"""``threadline daemon start|stop|status|run|flush``: the background capture of transcripts."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import click

from threadline.cli.common import load_config, print_json, store, warn, when
from threadline.daemon import control
from threadline.errors import AlreadyRunning
from threadline.store import db, notes
from threadline.store import transcripts as tstore
from threadline.watch import roots as roots_mod

START_WAIT = 10.0
STOP_WAIT = 15.0


@click.group("daemon")
def daemon() -> None:
    """Capture Claude Code and Codex transcripts in the background."""


@daemon.command("run")
@click.option("--quiet", is_flag=True, help="Log to the log file only, not to stderr.")
@click.option("--claude/--no-claude", default=True, help="Watch Claude Code's transcripts.")
@click.option("--codex/--no-codex", default=True, help="Watch Codex's transcripts.")
def run(quiet: bool, claude: bool, codex: bool) -> None:
    """Run the daemon in the foreground (for systemd, launchd or a terminal)."""
    from threadline.daemon import service

    cfg = load_config()
    service.setup_logging(quiet)
    options = service.Options(
        roots=roots_mod.agent_roots(claude, codex),
        rescan_interval=cfg.get("daemon_rescan"),
        retry_max=cfg.get("daemon_retry_max"),
    )
    try:
        code = service.Daemon(options).run()
    except AlreadyRunning:
        if quiet:  # started by a hook while another one runs: nothing to do
            return
        raise
    raise SystemExit(code)


@daemon.command("start")
def start() -> None:
    """Start the daemon in the background (does nothing if it runs already)."""
    pid = control.read_pid()
    if pid is not None and control.request({"op": "ping"}, 1.0):
        click.echo(f"The daemon is already running (pid {pid}).")
        return
    spawned = control.spawn()
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        answer = control.request({"op": "ping"}, 0.5)
        if answer and answer.get("ok"):
            click.echo(f"The daemon is running (pid {answer.get('pid')}).")
            click.echo(f"Log: {control.log_file()}")
            return
        time.sleep(0.05)
    raise click.ClickException(
        f"the daemon (pid {spawned}) did not answer within {START_WAIT:g} s; "
        f"see its log: {control.log_file()}"
    )


@daemon.command("stop")
def stop() -> None:
    """Stop the daemon; what it has read stays in the local store."""
    pid = control.read_pid()
    if pid is None:
        click.echo("The daemon is not running.")
        return
    if control.request({"op": "stop"}, 2.0) is None:
        if not control.lock_held():
            # No daemon holds its lock: the pid file is stale, and its pid may be another
            # program's by now. Never signal it.
            control.pid_file().unlink(missing_ok=True)
            click.echo(f"The daemon is not running (a stale pid file named pid {pid}; removed).")
            return
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        if control.read_pid() is None:
            click.echo(f"Stopped the daemon (pid {pid}).")
            return
        time.sleep(0.05)
    raise click.ClickException(f"the daemon (pid {pid}) is still running after {STOP_WAIT:g} s")


@daemon.command("flush")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--timeout", type=float, default=30.0, show_default=True)
def flush(path: Path | None, timeout: float) -> None:
    """Ask the running daemon to read PATH (or rescan everything) and upload now."""
    message: dict[str, Any] = {"op": "flush", "wait": True}
    if path is not None:
        message["path"] = os.path.abspath(path)
    answer = control.request(message, timeout)
    if answer is None:
        raise click.ClickException("the daemon is not running (threadline daemon start)")
    if answer.get("error"):
        warn(f"read {answer.get('lines', 0)} new lines; upload failed: {answer['error']}")
        raise SystemExit(1)
    click.echo(f"Read {answer.get('lines', 0)} new lines; uploaded.")


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Is the daemon running; files tracked, lines pending, last upload, last error."""
    pid = control.read_pid()
    answer = control.request({"op": "ping"}, 1.0) if pid is not None else None
    # A store the daemon cannot write (a full disk) holds no record of that: the daemon says.
    store_error = answer.get("store_error") if answer is not None else None
    answering = answer is not None
    with store() as conn:
        counts = tstore.totals(conn)
        info: dict[str, Any] = {
            "running": answering,
            "pid": pid,
            "started": db.get_state(conn, "daemon_started") if pid else None,
            "last_scan": db.get_state(conn, "daemon_last_scan"),
            "watching": [
                {"agent": r.agent, "path": str(r.path), "exists": r.path.is_dir()}
                for r in roots_mod.agent_roots()
            ],
            "files": counts,
            "lines_pending": counts["pending"],
            "entries_pending": notes.pending_count(conn),
            "last_upload": db.get_state(conn, "last_success"),
            "last_error": store_error or db.get_state(conn, "last_error"),
            "store_error": store_error,
            "log": str(control.log_file()),
        }
    if as_json:
        print_json(info)
        return
    if answering:
        state = f"running (pid {pid}, started {when(info['started'])})"
    elif pid is not None:
        state = f"not answering (pid {pid})"
    else:
        state = "not running (threadline daemon start)"
    click.echo(f"{'Daemon:':<16}{state}")
    for root in info["watching"]:
        missing = "" if root["exists"] else " (not there yet)"
        click.echo(f"{'Watching:':<16}{root['path']} [{root['agent']}]{missing}")
    files = info["files"]
    detail = f"{files['active']} captured, {files['excluded']} excluded, {files['gone']} gone"
    click.echo(f"{'Files tracked:':<16}{files['files']} ({detail})")
    click.echo(f"{'Lines read:':<16}{files['lines']:,}")
    click.echo(f"{'Lines pending:':<16}{info['lines_pending']:,}")
    click.echo(f"{'Last upload:':<16}{when(info['last_upload'])}")
    click.echo(f"{'Last error:':<16}{info['last_error'] or '-'}")
    click.echo(f"{'Log:':<16}{info['log']}")
