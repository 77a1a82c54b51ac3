"""``save``: a captured session together with the state of its repository.

The session is the most recent captured Claude Code or Codex session whose working folder is
inside the repository (or the one named). Everything captured of it is delivered first, so the
save's ``line_count`` lines are on the server; then the git state is recorded
(:mod:`~threadline.handoff.capture`, which never changes the repository), its blobs are
uploaded — only those the server lacks — and the save after them. When the server cannot be
reached (or this machine is not logged in) the save and its blobs are kept in the local store
and the next delivery uploads them (:mod:`threadline.sync.saves`): a save is never lost.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.client.api import Api
from threadline.config import Config
from threadline.errors import NotLoggedIn, ServerRefused, ServerUnreachable
from threadline.handoff import capture as capture_mod
from threadline.handoff.errors import NoSession
from threadline.handoff.git import Git, pick_remote, read_head, toplevel
from threadline.store import handoff as store
from threadline.store.notes import utc_now
from threadline.sync import deliver
from threadline.sync.engine import Delivery
from threadline.sync.saves import upload_save

#: Seconds the delivery before a save and the save's upload may take per request.
TIMEOUT = 60.0


@dataclass(frozen=True)
class Session:
    """A captured session as the local store knows it."""

    key: str
    agent: str
    session_id: str
    cwd: str
    title: str | None
    thread_id: str | None
    line_count: int
    path: str
    #: The time of its latest line, as the transcript gives it ("" when unknown).
    last_activity: str = ""


@dataclass
class Saved:
    """What :func:`save` did: the save's wire body, the capture, the session, and whether it
    was uploaded (else ``waiting`` says why it waits locally)."""

    body: dict[str, Any]
    capture: capture_mod.Capture
    session: Session
    uploaded: bool = False
    waiting: str | None = None
    dry_run: bool = False


def inside(path: str, root: Path) -> bool:
    """Whether ``path`` is ``root`` or inside it (symbolic links resolved)."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def find_session(conn: sqlite3.Connection, root: Path, wanted: str | None = None) -> Session:
    """The most recent captured session working inside ``root``, or the one named
    ``wanted`` (its id, or the start of it); :class:`NoSession` if there is none."""
    everything = [_session(row) for row in store.sessions(conn)]
    if wanted:
        named = [s for s in everything if s.session_id.startswith(wanted) or s.key == wanted]
        if not named:
            raise NoSession(f"no captured session has the id {wanted}")
        if len(named) > 1:
            raise NoSession(
                f"{len(named)} captured sessions have ids starting with {wanted}",
                hint="Give more of the id.",
            )
        if not inside(named[0].cwd, root):
            raise NoSession(
                f"session {named[0].session_id} worked in {named[0].cwd}, not in this "
                f"repository ({root})",
                hint="Run `threadline save` in the repository the session worked in.",
            )
        return named[0]
    here = [s for s in everything if s.cwd and inside(s.cwd, root)]
    if not here:
        raise NoSession(f"no captured Claude Code or Codex session worked in {root}")
    # The latest line written decides, not the order the files were read in (a session
    # placed and continued here is read before an older one of this machine's own); on a
    # tie, store.sessions' order (the most recently read first) stays.
    return max(here, key=_last_activity)


def _last_activity(session: Session) -> datetime:
    """When the session's latest line was written (the oldest time when unknown)."""
    try:
        when = datetime.fromisoformat(session.last_activity or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _session(row: dict[str, Any]) -> Session:
    meta = row["meta"]
    return Session(
        key=row["key"],
        agent=row["agent"],
        session_id=str(meta.get("session_id") or row["key"].split(":", 1)[1]),
        cwd=str(meta.get("cwd") or ""),
        title=meta.get("title"),
        thread_id=row["server_thread_id"],
        line_count=row["lines"],
        path=row["path"],
        last_activity=str(meta.get("last_activity") or ""),
    )


def session_root(cwd: str, root: Path) -> str:
    """``root`` as the session's working folder spells it (the transcript's paths start with
    that spelling, which may go through a symbolic link)."""
    real = os.path.realpath(root)
    for folder in (Path(cwd), *Path(cwd).parents):
        if os.path.realpath(folder) == real:
            return str(folder)
    return str(root)


def save(
    conn: sqlite3.Connection,
    cfg: Config,
    cwd: Path,
    *,
    message: str = "",
    session: str | None = None,
    push: bool = False,
    include: Sequence[str] = (),
    dry_run: bool = False,
    refresh: Callable[[Path], None] | None = None,
) -> Saved:
    """Save the session working in the repository holding ``cwd`` with the repository's
    state (see the module documentation). ``refresh`` reads the agents' transcript files of
    that repository into the local store first (the CLI passes the capture's reader)."""
    root = toplevel(cwd)
    git = Git(root)
    pick_remote(git, read_head(git))  # no remote, no commit: say so before anything else
    if refresh is not None:
        refresh(root)
    found = find_session(conn, root, session)
    delivery = None
    if not dry_run:
        delivery = deliver.deliver_pending(conn, cfg, timeout=TIMEOUT, lock_timeout=TIMEOUT)
        found = find_session(conn, root, found.session_id)  # its server id may be known now
    cap = capture_mod.capture(
        cwd, include=include, exclude=cfg.handoff_exclude, push=push, dry_run=dry_run
    )
    blobs = {role: data for role, data in cap.blobs().items() if data is not None}
    names = {role: hashlib.sha256(data).hexdigest() for role, data in blobs.items()}
    body = _body(conn, cfg, cap, found, message, names)
    result = Saved(body, cap, found, dry_run=dry_run)
    if dry_run:
        return result
    by_name = {names[role]: data for role, data in blobs.items()}
    result.waiting = _why_not_now(delivery, found)
    if result.waiting is None:
        try:
            upload_save(Api.from_config(cfg, timeout=TIMEOUT), body, by_name.get)
            result.uploaded = True
        except (NotLoggedIn, ServerUnreachable) as exc:
            result.waiting = exc.message
        except ServerRefused as exc:
            if exc.status < 500:
                exc.hint = refused_hint(exc) or exc.hint
                raise
            result.waiting = exc.message  # the server's trouble: try again later
    if not result.uploaded:
        store.add_pending(conn, found.key, body, by_name)
    return result


def _why_not_now(delivery: Delivery | None, found: Session) -> str | None:
    """Why the save cannot be uploaded now, or ``None``."""
    if delivery is not None and delivery.reason in (deliver.NOT_LOGGED_IN, deliver.UNREACHABLE):
        return delivery.message
    if found.thread_id is None:
        reason = delivery.message if delivery is not None and delivery.message else ""
        return "its session is not on the server yet" + (f" ({reason})" if reason else "")
    return None


def _body(
    conn: sqlite3.Connection,
    cfg: Config,
    cap: capture_mod.Capture,
    found: Session,
    message: str,
    names: dict[str, str],
) -> dict[str, Any]:
    head = cap.head
    return {
        "save_id": str(uuid.uuid4()),
        "thread_id": found.thread_id,
        "session_id": found.session_id,
        "agent": found.agent,
        "line_count": found.line_count,
        "remote": cap.remote.url,
        "remote_key": cap.remote.key,
        "branch": head.branch,
        "commit": head.commit,
        "detached": head.detached,
        "upstream": head.upstream,
        "message": message,
        "device_name": cfg.get("device_name") or socket.gethostname(),
        "resumed_from": store.resumed_from(conn, found.key),
        "repo_root": session_root(found.cwd, cap.root),
        "cwd": found.cwd,
        "blobs": {role: names.get(role) for role in ("bundle", "patch", "untracked")},
        "files": [f.wire() for f in cap.files],
        "excluded": [x.path for x in cap.excluded],
        "created": utc_now(),
    }


def refused_hint(exc: ServerRefused) -> str | None:
    """A hint for a save the server refused, by its error code."""
    if exc.code in ("blob_too_large", "payload_too_large") or exc.status == 413:
        return (
            "A blob is over the server's limit: push the branch with --push instead of "
            "carrying a bundle, or add large untracked files to .gitignore."
        )
    return None
