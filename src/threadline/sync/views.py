"""What a thread looks like from this machine: the server's view merged with the local store.

With a server configured and answering, threads and entries come from the server — so those of
every device of the user appear — together with what this machine has not delivered yet.
Without one they come from the local store alone, and ``local_only`` says why. The answers are
plain data (lists of dicts) for the CLI to print.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from threadline import protocol as p
from threadline.client.api import Api
from threadline.config import Config
from threadline.errors import ClientError, NotLoggedIn, ServerRefused
from threadline.store import notes


@dataclass
class Threads:
    """Threads, most recent activity first; each with ``entry_count`` and ``pending``."""

    rows: list[dict[str, Any]]
    #: Why only this machine's threads are shown (``None`` when the server was read).
    local_only: str | None


@dataclass
class Entries:
    """The entries of one thread in time order; each with ``pending`` (not yet delivered)."""

    entries: list[dict[str, Any]]
    #: Whether the thread exists at all (here, or on the server).
    found: bool
    local_only: str | None
    #: The server's thread they are of (``None``: not found there, or the server is away).
    thread: dict[str, Any] | None = None


def server(cfg: Config) -> tuple[Api | None, str | None]:
    """A client of the configured server if it answers, else ``None`` and why not. One short
    probe, so an absent server costs ``push_timeout``, not a timeout per page."""
    try:
        client = Api.from_config(cfg, timeout=cfg.push_timeout)
        client.me()
    except NotLoggedIn:
        return None, "no server configured"
    except ClientError as exc:
        return None, exc.message
    return client, None


@dataclass(frozen=True)
class ScopeFilter:
    """Only the threads of ``scope`` (``TYPE:ID``) and/or whose scope has type ``scope_type``;
    both ``None``: every thread."""

    scope: str | None = None
    scope_type: str | None = None

    @property
    def active(self) -> bool:
        return self.scope is not None or self.scope_type is not None

    def matches(self, scope: str | None) -> bool:
        """Whether a thread of ``scope`` passes (the server's answer is checked again, so an
        older server that ignores the filter lists nothing wrong)."""
        if self.scope is not None and scope != self.scope:
            return False
        if self.scope_type is not None:
            return scope is not None and scope.startswith(self.scope_type + ":")
        return True


def threads(
    conn: sqlite3.Connection,
    cfg: Config,
    project: str | None,
    where: ScopeFilter | None = None,
) -> Threads:
    """The threads of ``project`` (every project when ``None``), narrowed to ``where``."""
    where = where or ScopeFilter()
    local = notes.list_threads(conn, project, scope=where.scope, scope_type=where.scope_type)
    client, why = server(cfg)
    remote = []
    if client is not None:
        found = client.all_threads(project=project, scope=where.scope, scope_type=where.scope_type)
        remote = [t for t in found if where.matches(t.get("scope"))]
    return Threads(merge_threads(remote, local), why)


def merge_threads(
    remote: list[dict[str, Any]], local: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The server's threads with this machine's pending entries counted in, and the threads
    the server does not know yet; most recent activity first."""
    pending = {t["key"]: t for t in local}
    rows = []
    for t in remote:
        mine = pending.pop(t["key"], None)
        extra = mine["pending"] if mine else 0
        rows.append({**t, "pending": extra, "entry_count": t["entry_count"] + extra})
    for t in pending.values():
        rows.append(
            {
                "id": None,
                "key": t["key"],
                "kind": t["kind"],
                "name": t["name"],
                "project": t["project"],
                "title": t["title"],
                "scope": t.get("scope"),
                "entry_count": t["entries"],
                "pending": t["pending"],
                "last_activity_at": t["last_activity_at"] or t["created_at"],
            }
        )
    rows.sort(key=lambda r: r["last_activity_at"] or "", reverse=True)
    return rows


def entries(
    conn: sqlite3.Connection, cfg: Config, project: str, name: str, scope: str | None = None
) -> Entries:
    """The entries of the thread ``name`` of ``project`` (a note thread's name, or a thread's
    id or name as `thread list` shows it; with a ``scope``: the project's thread of that
    scope): the server's, then this machine's not yet delivered, in
    time order."""
    local = notes.thread_entries(conn, project, name, scope)
    client, why = server(cfg)
    thread = None
    if client is None:
        merged = list(local)
    else:
        thread, merged = _remote_entries(client, project, name, scope)
        seen = {e["id"] for e in merged}
        merged += [{**e, "pending": True} for e in local if e["pending"] and e["id"] not in seen]
    merged.sort(key=lambda e: parse_time(str(e["ts"])))
    return Entries(merged, bool(merged or local or thread), why, thread)


def _remote_entries(
    client: Api, project: str, name: str, scope: str | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The server's thread ``name`` (or of ``scope``) and its entries."""
    if scope is not None:
        found = client.all_threads(project=project, scope=scope)
        matches = [t for t in found if t.get("scope") == scope]
    else:
        matches = _named(client, project, name)
    if not matches:
        return None, []
    return matches[0], [
        {
            "id": e["id"],
            "seq": e["seq"],
            "ts": e["ts"],
            "role": e["role"],
            "text": e["text"],
            "parts": e.get("parts"),
            "meta": e.get("meta"),
            "pending": False,
        }
        for e in client.all_entries(matches[0]["id"])
    ]


def _named(client: Api, project: str, name: str) -> list[dict[str, Any]]:
    """The thread ``name`` stands for: the project's note thread of that name; else a thread
    of the project with that id or name (a session's, an ask conversation's — as `thread
    list` shows them); else the thread with that id in any project."""
    key = p.note_thread_key(project, name)
    listed = client.all_threads(project=project)
    matches = [t for t in listed if t["key"] == key]
    matches = matches or [t for t in listed if t["id"] == name]
    matches = matches or [t for t in listed if t.get("name") == name]
    if matches or not THREAD_ID.fullmatch(name):
        return matches
    try:
        return [client.thread(name)]
    except ServerRefused as exc:
        if exc.status == 404:
            return []
        raise


#: What a thread id looks like (a UUID); other names are never looked up by id.
THREAD_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def parse_time(ts: str) -> datetime:
    """An RFC 3339 time as an aware datetime (a time without an offset is taken as UTC)."""
    when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)
