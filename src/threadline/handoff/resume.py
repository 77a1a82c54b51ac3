"""``resume``: put a save's code and session into this clone, so the agent continues there.

The save is found first (by id, or the latest of this repository by its normalized remote),
with a warning when a newer save of the same session exists. Its blobs are downloaded, then
every step is planned and checked — the git state (:mod:`~threadline.handoff.restore`) and the
transcript (:mod:`~threadline.handoff.transcripts`) — before anything is changed. The git state
is applied, then the transcript written where the agent looks for it on this machine; if the
transcript cannot be written, the git state is undone. Finally the session is marked as resumed
from this save, so that the next save of it records ``resumed_from``.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from threadline.client.api import Api
from threadline.config import Config
from threadline.errors import InvalidInput, ServerRefused, ServerUnreachable, ThreadlineError
from threadline.handoff import apply, blobcache, restore, transcripts
from threadline.handoff.errors import ResumeRefused, SaveNotFound
from threadline.handoff.git import Git, remotes, toplevel
from threadline.store import handoff as store
from threadline.sync.views import parse_time

#: Seconds each request of a resume may take (a blob can be large).
TIMEOUT = 120.0
#: How many saves a "no save of this repository" message lists.
LISTED = 10


@dataclass
class Resumed:
    """What :func:`resume` did (or, with ``dry_run``, would do)."""

    save: dict[str, Any]
    root: Path
    steps: list[str]
    writes: list[str]
    transcript_path: str
    folder: str
    command: str
    newer: dict[str, Any] | None = None
    dry_run: bool = False
    stashed: bool = False
    backup_branch: str | None = None
    lines_downloaded: int = 0
    bytes_downloaded: int = 0
    notes: list[str] = field(default_factory=list)


def client(cfg: Config) -> Api:
    return Api.from_config(cfg, timeout=TIMEOUT)


def unreachable(exc: ServerUnreachable) -> ServerUnreachable:
    return ServerUnreachable(
        exc.message,
        hint="Resuming needs the server: check that it answers (`threadline sync status`).",
    )


def find_save(
    api: Api, cwd: Path, save_id: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The save to resume and the newest save of the same session made after it, if any."""
    try:
        found = save_by_id(api, save_id) if save_id else _latest_here(api, cwd)
        return found, _newer(api, found)
    except ServerUnreachable as exc:
        raise unreachable(exc) from exc


def save_by_id(api: Api, save_id: str) -> dict[str, Any]:
    if len(save_id) == 36:
        try:
            return dict(api.get_save(save_id))
        except ServerRefused as exc:
            if exc.status in (404, 422):
                raise SaveNotFound(f"no save {save_id}") from exc
            raise
    matches = [s for s in api.all_saves() if str(s["save_id"]).startswith(save_id.lower())]
    if not matches:
        raise SaveNotFound(f"no save has an id starting with {save_id}")
    if len(matches) > 1:
        raise InvalidInput(
            f"{len(matches)} saves have ids starting with {save_id}; give more of it"
        )
    return dict(matches[0])


def _latest_here(api: Api, cwd: Path) -> dict[str, Any]:
    keys = sorted({r.key for r in remotes(Git(toplevel(cwd)))})
    newest: list[dict[str, Any]] = []
    for key in keys:
        newest += api.saves(remote_key=key, limit=1)["saves"]
    if newest:
        return max(newest, key=lambda s: parse_time(str(s["created"])))
    others = api.saves(limit=LISTED)["saves"]
    listing = "; ".join(describe(s) for s in others) if others else "there are none yet"
    raise SaveNotFound(
        f"no save of this repository ({', '.join(keys) or 'no remote'}); your saves: {listing}",
        hint="`threadline resume SAVE_ID` resumes one of them in a clone of its repository; "
        "`threadline save` makes one.",
    )


def describe(save: dict[str, Any]) -> str:
    """``1f2e3d4c (github.com/o/r, feature, laptop, 2026-11-21T10:00)``."""
    where = save.get("branch") or f"detached {str(save.get('commit'))[:12]}"
    device = save["device"] or "?"
    when = str(save["created"])[:16]
    return f"{str(save['save_id'])[:8]} ({save['remote_key']}, {where}, {device}, {when})"


def _newer(api: Api, save: dict[str, Any]) -> dict[str, Any] | None:
    """The newest save of the same session, when it is newer than ``save`` (one save on the
    wire: the list is newest first)."""
    page = api.saves(session_id=save["session_id"], limit=1)["saves"]
    if not page or page[0]["save_id"] == save["save_id"]:
        return None
    newest = dict(page[0])
    return newest if parse_time(str(newest["created"])) > parse_time(str(save["created"])) else None


def newer_warning(newer: dict[str, Any]) -> str:
    return (
        f"a newer save of this session exists: {describe(newer)}; "
        f"`threadline resume {newer['save_id']}` resumes it"
    )


def blobs(api: Api, save: dict[str, Any]) -> dict[str, bytes | None]:
    names = save.get("blobs") or {}
    try:
        return {
            role: blobcache.get(sha, api.get_blob) if sha else None for role, sha in names.items()
        }
    except ServerUnreachable as exc:
        raise unreachable(exc) from exc


def folder_of(save: dict[str, Any], root: Path) -> Path:
    """Where the session worked, on this machine: its folder inside the repository."""
    cwd, old_root = str(save.get("cwd") or ""), str(save.get("repo_root") or "")
    if cwd and old_root and (cwd == old_root or cwd.startswith(old_root.rstrip("/") + "/")):
        inner = root / os.path.relpath(cwd, old_root)
        if inner.is_dir():
            return Path(os.path.normpath(inner))
    return root


def resume(
    conn: sqlite3.Connection,
    cfg: Config,
    cwd: Path,
    save_id: str | None,
    *,
    dry_run: bool = False,
    stash: bool = False,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Resumed:
    """Resume a save in the clone holding ``cwd`` (see the module documentation); ``warn``
    hears at once of a newer save of the same session, before any check can refuse."""
    root = toplevel(cwd)
    api = client(cfg)
    save, newer = find_save(api, root, save_id)
    if newer is not None and warn is not None:
        warn(newer_warning(newer))
    saved = restore.Saved.of(save, blobs(api, save))
    with restore.plan(root, saved, stash=stash, force=force) as plan:
        tplan = transcripts.plan_transcript(api, save, root)
        if tplan.refuse and not force:
            raise ResumeRefused(
                tplan.refuse,
                hint="Pass --force to replace it (the git state is checked the same way). "
                "Nothing was changed.",
            )
        folder = (
            tplan.cwd if tplan.cwd is not None and tplan.cwd.is_dir() else folder_of(save, root)
        )
        command = f"cd {shlex.quote(str(folder))} && " + transcripts.resume_command(
            str(save["agent"]), str(save["session_id"])
        )
        result = Resumed(
            save=save,
            root=root,
            steps=list(plan.steps),
            writes=plan.writes,
            transcript_path=str(tplan.path),
            folder=str(folder),
            command=command,
            newer=newer,
            dry_run=dry_run,
        )
        if tplan.have_lines < tplan.total_lines:
            result.steps.append(
                f"download lines {tplan.have_lines + 1}-{tplan.total_lines} of the transcript"
            )
        result.steps.append(f"write the transcript {tplan.path}")
        if dry_run:
            return result
        applied = apply.apply(plan)
        try:
            written = transcripts.write_transcript(api, tplan, save, root, force=force)
        except (ThreadlineError, OSError) as exc:
            problems = applied.undo()
            raise apply.failure("writing the transcript", exc, problems) from exc
    result.stashed = applied.stashed
    result.backup_branch = applied.backup_branch
    result.transcript_path = str(written.path)
    result.lines_downloaded = written.lines_downloaded
    result.bytes_downloaded = written.bytes_downloaded
    result.notes = list(written.notes)
    store.set_resumed(
        conn,
        f"{save['agent']}:{save['session_id']}",
        str(save["save_id"]),
        str(root),
        str(written.path),
    )
    return result


def read_only(
    cfg: Config,
    cwd: Path,
    save_id: str | None,
    out: TextIO,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Print the conversation of a save (changing nothing); returns the save."""
    api = client(cfg)
    save, newer = find_save(api, cwd, save_id)
    if newer is not None and warn is not None:
        warn(newer_warning(newer))
    try:
        transcripts.print_conversation(api, save, out)
    except ServerUnreachable as exc:
        raise unreachable(exc) from exc
    return save
