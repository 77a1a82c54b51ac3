"""``threadline save``, ``threadline resume`` and ``threadline handoff list|show|delete``.

The work is in :mod:`threadline.handoff`; this module reads the agents' transcript files of the
repository into the local store before a save (the capture's reader lives in ``watch``, which
the hand-off does not import), parses the arguments and prints.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from threadline.cli.common import load_config, print_json, relative_time, store, table, warn
from threadline.errors import NotLoggedIn, ServerRefused, ServerUnreachable
from threadline.handoff import capture as capture_mod
from threadline.handoff.errors import SaveNotFound
from threadline.sources.model import Agent
from threadline.store import handoff as handoff_store
from threadline.sync.views import parse_time
from threadline.watch import roots
from threadline.watch.tail import Exclusions, Tailer

#: Codex files changed this recently are read before a save (older ones are captured already,
#: or by the daemon); Codex's folders are by date, not by working folder.
CODEX_RECENT_SECONDS = 7 * 24 * 3600

AGENT_NAMES = {"claude-code": "Claude Code", "codex": "Codex"}


# --- save ------------------------------------------------------------------------------------


def _claude_folders(root: Path) -> Iterator[Path]:
    """Claude Code's project folders of ``root`` and of the folders inside it."""
    encoded = re.sub(r"[^A-Za-z0-9]", "-", os.path.realpath(root))
    try:
        entries = list(os.scandir(roots.claude_root()))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and (entry.name == encoded or entry.name.startswith(encoded + "-")):
            yield Path(entry.path)


def _transcript_files(conn: sqlite3.Connection, root: Path) -> list[tuple[Path, Agent | None]]:
    """Every transcript file that may hold a session of ``root``: those already captured,
    those a resume wrote, Claude Code's folders of ``root`` and Codex's recent files."""
    from threadline.handoff.saves import inside

    found: dict[Path, Agent | None] = {}
    for session in handoff_store.sessions(conn):
        cwd = str(session["meta"].get("cwd") or "")
        if cwd and inside(cwd, root):
            found[Path(session["path"])] = session["agent"]
    for marker in handoff_store.resumed(conn):
        if marker["transcript_path"] and inside(marker["repo_root"], root):
            found.setdefault(Path(marker["transcript_path"]), None)
    for folder in _claude_folders(root):
        for path in roots.walk(folder):
            found.setdefault(path, "claude-code")
    for path in roots.walk(roots.codex_root(), time.time() - CODEX_RECENT_SECONDS):
        found.setdefault(path, "codex")
    return list(found.items())


def _reader(conn: sqlite3.Connection, exclude: list[str]) -> Callable[[Path], None]:
    def refresh(root: Path) -> None:
        tailer = Tailer(conn, Exclusions(exclude))
        for path, agent in _transcript_files(conn, root):
            try:
                tailer.ingest(path, agent)
            except OSError as exc:
                warn(f"cannot read {path}: {exc.strerror or exc}")

    return refresh


@click.command("save")
@click.option("-m", "--message", default="", help="A note to your future self.")
@click.option("--session", "session_id", metavar="ID", help="Save this session (its id).")
@click.option("--push", is_flag=True, help="Push the branch instead of carrying a bundle.")
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="PATH",
    help="Carry this secret-looking file anyway (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be saved; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def save(
    message: str,
    session_id: str | None,
    push: bool,
    include: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Save the latest agent session of this repository with its code, to resume elsewhere."""
    from threadline.handoff import saves

    cfg = load_config()
    with store() as conn:
        result = saves.save(
            conn,
            cfg,
            Path.cwd(),
            message=message,
            session=session_id,
            push=push,
            include=include,
            dry_run=dry_run,
            refresh=_reader(conn, cfg.exclude),
        )
    if as_json:
        print_json(_save_json(result))
        return
    _print_save(result)


def _save_json(result: Any) -> dict[str, Any]:
    body, cap = result.body, result.capture
    return {
        "save_id": body["save_id"],
        "session_id": body["session_id"],
        "agent": body["agent"],
        "commit": body["commit"],
        "branch": body["branch"],
        "remote": body["remote"],
        "changed_files": len(body["files"]),
        "detached": body["detached"],
        "remote_key": body["remote_key"],
        "line_count": body["line_count"],
        "excluded": body["excluded"],
        "unpushed_commits": len(cap.unpushed),
        "pushed": cap.pushed,
        "uploaded": result.uploaded,
        "waiting": result.waiting,
        "dry_run": result.dry_run,
        "resumed_from": body["resumed_from"],
    }


def _print_save(result: Any) -> None:
    body, cap, session = result.body, result.capture, result.session
    agent = AGENT_NAMES.get(body["agent"], body["agent"])
    verb = "Would save" if result.dry_run else "Saved"
    ident = "" if result.dry_run else f" {body['save_id']}"
    click.echo(f"{verb}{ident}: {agent} session {body['session_id']} ({body['line_count']} lines)")
    if session.title:
        click.echo(f"  {session.title}")
    where = f"branch {body['branch']}" if body["branch"] else "a detached HEAD"
    click.echo(f"  {where} at {body['commit'][:12]} of {body['remote']}")
    if cap.pushed:
        click.echo("  pushed the branch (--push)")
    elif cap.unpushed:
        click.echo(f"  {len(cap.unpushed)} commits not on the remote travel in a bundle")
    click.echo(f"  {len(body['files'])} changed files carried")
    for left in cap.excluded:
        hint = "; --include PATH carries it" if left.reason == capture_mod.SECRET else ""
        click.echo(f"  left out: {left.path} ({left.reason}{hint})")
    if result.dry_run:
        click.echo("Nothing was saved (--dry-run).")
        return
    if result.waiting:
        click.echo(
            f"Not uploaded yet: {result.waiting}. The save waits here; the next "
            "`threadline sync` (or the daemon) uploads it."
        )
    click.echo(f"Resume it in a clone of {body['remote']}: threadline resume {body['save_id']}")


# --- resume ----------------------------------------------------------------------------------


@click.command("resume")
@click.argument("save_id", required=False)
@click.option("--dry-run", is_flag=True, help="Show every step and file; change nothing.")
@click.option("--read-only", is_flag=True, help="Print the conversation; change nothing.")
@click.option("--stash", is_flag=True, help="Stash local uncommitted changes first.")
@click.option(
    "--force",
    is_flag=True,
    help="Go on over a diverged branch or a newer local transcript (local work is stashed or "
    "kept on a backup branch, never discarded).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def resume(
    save_id: str | None, dry_run: bool, read_only: bool, stash: bool, force: bool, as_json: bool
) -> None:
    """Resume a save (default: the latest of this repository) in this clone."""
    from threadline.handoff import resume as resume_mod

    cfg = load_config()
    if read_only:
        resume_mod.read_only(cfg, Path.cwd(), save_id, sys.stdout, warn=warn)
        return
    with store() as conn:
        result = resume_mod.resume(
            conn, cfg, Path.cwd(), save_id, dry_run=dry_run, stash=stash, force=force, warn=warn
        )
    if as_json:
        print_json(_resume_json(result))
        return
    _print_resume(result)


def _resume_json(result: Any) -> dict[str, Any]:
    save = result.save
    return {
        "save_id": save["save_id"],
        "session_id": save["session_id"],
        "agent": save["agent"],
        "commit": save["commit"],
        "branch": save["branch"],
        "transcript_path": result.transcript_path,
        "command": result.command,
        "folder": result.folder,
        "dry_run": result.dry_run,
        "steps": result.steps,
        "writes": result.writes,
        "stashed": result.stashed,
        "backup_branch": result.backup_branch,
        "newer_save_id": result.newer["save_id"] if result.newer else None,
        "lines_downloaded": result.lines_downloaded,
        "bytes_downloaded": result.bytes_downloaded,
        "notes": result.notes,
    }


def _print_resume(result: Any) -> None:
    save = result.save
    agent = AGENT_NAMES.get(save["agent"], save["agent"])
    head = "Would resume" if result.dry_run else "Resumed"
    click.echo(
        f"{head} save {save['save_id']}: {agent} session {save['session_id']} from {save['device']}"
    )
    if save.get("message"):
        click.echo(f"  {save['message']}")
    for step in result.steps:
        click.echo(f"  {'would ' if result.dry_run else ''}{step}")
    if result.dry_run:
        click.echo("Files it would write:")
        for path in result.writes:
            click.echo(f"  {path}")
        click.echo(f"  {result.transcript_path}")
        click.echo("Nothing was changed (--dry-run).")
        return
    if result.stashed:
        click.echo("Your uncommitted changes are in the stash: `git stash pop` brings them back.")
    if result.backup_branch:
        click.echo(f"Your branch's own commits are kept on {result.backup_branch}.")
    for note in result.notes:
        click.echo(f"Note: {note}")
    click.echo(f"Continue the session with:\n  {result.command}")


# --- handoff list / show / delete ------------------------------------------------------------


@click.group("handoff")
def handoff() -> None:
    """Saves of sessions with their code: list, show, delete (and save, resume)."""


handoff.add_command(save)
handoff.add_command(resume)


def _list_json(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "save_id": item["save_id"],
        "session_id": item["session_id"],
        "agent": item["agent"],
        "commit": item["commit"],
        "branch": item["branch"],
        "message": item["message"],
        "device": item["device"],
        "created": item["created"],
        "remote_key": item["remote_key"],
        "resumed_from": item.get("resumed_from"),
        "waiting": False,
    }


def _waiting_json(item: handoff_store.Pending) -> dict[str, Any]:
    """A save kept on this machine until the server takes it, in the shape of a listed one."""
    body = item.body
    return {
        "save_id": item.save_id,
        "session_id": body["session_id"],
        "agent": body["agent"],
        "commit": body["commit"],
        "branch": body["branch"],
        "message": body["message"],
        "device": body["device_name"],
        "created": item.created,
        "remote_key": body["remote_key"],
        "resumed_from": body.get("resumed_from"),
        "waiting": True,
    }


@handoff.command("list")
@click.option("--all", "everything", is_flag=True, help="Saves of every repository.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(everything: bool, as_json: bool) -> None:
    """Saves of this repository (or --all), newest first."""
    from threadline.handoff import resume as resume_mod
    from threadline.handoff.git import Git, remotes, toplevel

    cfg = load_config()
    keys = set() if everything else {r.key for r in remotes(Git(toplevel(Path.cwd())))}
    items: list[dict[str, Any]] = []
    try:
        api = resume_mod.client(cfg)
        if everything:
            items = api.all_saves()
        else:
            items = [s for key in sorted(keys) for s in api.all_saves(remote_key=key)]
            items.sort(key=lambda s: parse_time(str(s["created"])), reverse=True)
    except (NotLoggedIn, ServerUnreachable) as exc:
        warn(f"showing only the saves waiting on this machine: {exc.message}")
    with store() as conn:
        waiting = [
            w for w in handoff_store.pending(conn) if everything or w.body["remote_key"] in keys
        ]
    if as_json:
        listed = [_list_json(s) for s in items] + [_waiting_json(w) for w in waiting]
        listed.sort(key=lambda s: parse_time(str(s["created"])), reverse=True)
        print_json({"saves": listed})
        return
    if not items and not waiting:
        click.echo(
            "No saves yet. `threadline save` makes one."
            if everything
            else "No saves of this repository (`threadline handoff list --all` lists all)."
        )
    if items:
        _table(items, everything)
    for item in waiting:
        click.echo(f"Waiting to upload: {item.save_id} ({item.error or 'server not reached'})")


def _table(items: list[dict[str, Any]], everything: bool) -> None:
    headers = ["SAVE", "BRANCH", "AGENT", "DEVICE", "CREATED", "MESSAGE"]
    rows = []
    for s in items:
        message = str(s.get("message") or "")
        rows.append(
            [
                str(s["save_id"])[:8],
                s["branch"] or f"(detached {str(s['commit'])[:7]})",
                AGENT_NAMES.get(s["agent"], s["agent"]),
                str(s["device"]),
                relative_time(str(s["created"])),
                message.splitlines()[0][:40] if message else "",
            ]
        )
        if everything:
            rows[-1].insert(1, str(s["remote_key"]))
    if everything:
        headers.insert(1, "REPOSITORY")
    table(rows, headers)


@handoff.command("show")
@click.argument("save_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(save_id: str, as_json: bool) -> None:
    """Everything a save records."""
    from threadline.handoff import resume as resume_mod
    from threadline.handoff.transcripts import resume_command

    cfg = load_config()
    api = resume_mod.client(cfg)
    item = _find(api, save_id)
    if as_json:
        print_json(item)
        return
    rows = [
        ("Save", item["save_id"]),
        ("Session", f"{AGENT_NAMES.get(item['agent'], item['agent'])} {item['session_id']}"),
        ("Lines", str(item["line_count"])),
        ("Repository", f"{item['remote']} ({item['remote_key']})"),
        ("Branch", item["branch"] or "(detached HEAD)"),
        ("Commit", item["commit"]),
        ("Upstream", item.get("upstream") or "-"),
        ("Device", str(item["device"])),
        ("Created", item["created"]),
        ("Folder", item["cwd"]),
        ("Message", item.get("message") or "-"),
        ("Resumed from", item.get("resumed_from") or "-"),
        ("Files", str(len(item.get("files") or []))),
        ("Left out", ", ".join(item.get("excluded") or []) or "-"),
        ("Resume", f"threadline resume {item['save_id']}"),
        ("Then", resume_command(str(item["agent"]), str(item["session_id"]))),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<14}{value}")
    for f in item.get("files") or []:
        source = f" (from {f['from']})" if f.get("from") else ""
        click.echo(f"  {f.get('status', '')!s:>2} {f.get('path')}{source}")


def _find(api: Any, save_id: str) -> dict[str, Any]:
    from threadline.handoff import resume as resume_mod

    try:
        return resume_mod.save_by_id(api, save_id)
    except ServerUnreachable as exc:
        raise resume_mod.unreachable(exc) from exc


@handoff.command("delete")
@click.argument("save_id")
def delete(save_id: str) -> None:
    """Delete a save (and the blobs no other save needs)."""
    from threadline.handoff import resume as resume_mod

    cfg = load_config()
    with store() as conn:
        for waiting in handoff_store.pending(conn):
            if waiting.save_id.startswith(save_id):
                handoff_store.remove(conn, waiting.save_id)
                click.echo(f"Deleted the save {waiting.save_id}, which had not been uploaded.")
                return
    api = resume_mod.client(cfg)
    item = _find(api, save_id)
    try:
        api.delete_save(str(item["save_id"]))
    except ServerRefused as exc:
        if exc.status == 404:
            raise SaveNotFound(f"no save {save_id}") from exc
        raise
    click.echo(f"Deleted the save {item['save_id']}.")
