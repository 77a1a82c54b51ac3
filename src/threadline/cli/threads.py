"""``threadline thread new|list|show``.

With a server configured and answering, ``list`` and ``show`` read the server — so threads
and entries from every device of the user appear — together with what this machine has not
delivered yet. Without one they read the local store and say so on stderr.
"""

from __future__ import annotations

from typing import Any

import click

from threadline import protocol as p
from threadline.cli.common import (
    api,
    load_config,
    parse_time,
    print_json,
    relative_time,
    store,
    table,
    warn,
)
from threadline.config import Config
from threadline.errors import ClientError, NotLoggedIn, ServerRefused
from threadline.store import notes


@click.group("thread")
def thread() -> None:
    """Create, list and read note threads."""


@thread.command("new")
@click.argument("name")
@click.option("-p", "--project", help="Project (default: threadline.toml, git remote, folder).")
def new(name: str, project: str | None) -> None:
    """Create the note thread NAME (locally, and on the server when it answers)."""
    cfg = load_config(project=project)
    with store() as conn:
        _, created = notes.ensure_thread(conn, cfg.project, name)
    where = "locally"
    try:
        client = api(cfg, timeout=cfg.push_timeout)
        client.create_thread({"name": name, "project": cfg.project, "kind": "note"})
        where = "locally and on the server"
    except NotLoggedIn:
        pass
    except ClientError as exc:
        if isinstance(exc, ServerRefused) and exc.code == "thread_exists":
            where = "locally; the server already had it"
        else:
            warn(f"the server will learn of it with its first entry ({exc.message})")
    state = "created" if created else "already exists"
    click.echo(f"Thread {cfg.project}/{name} {state} {where}.")


def _remote(cfg: Config, what: str) -> Any:
    """An API client when a server is configured and answers, else None (with a note)."""
    try:
        client = api(cfg, timeout=cfg.push_timeout)
        client.me()  # one short probe, so an absent server costs push_timeout, not a page each
        return client
    except NotLoggedIn:
        warn(f"showing {what} of this machine only: no server configured")
    except ClientError as exc:
        warn(f"showing {what} of this machine only: {exc.message}")
    return None


@thread.command("list")
@click.option("-p", "--project", help="Only threads of this project.")
@click.option("--all-projects", is_flag=True, help="Threads of every project.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(project: str | None, all_projects: bool, as_json: bool) -> None:
    """List threads, most recent activity first (of the current project by default)."""
    cfg = load_config(project=project)
    scope = None if all_projects else cfg.project
    with store() as conn:
        local = notes.list_threads(conn, scope)
    client = _remote(cfg, "threads")
    rows = _merge_threads(client.all_threads(project=scope) if client else [], local)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No threads yet. Record one with `threadline push MESSAGE`.")
        return
    table(
        [
            [
                r["project"],
                r["name"],
                r["kind"],
                str(r["entry_count"]),
                str(r["pending"]),
                relative_time(r["last_activity_at"]),
            ]
            for r in rows
        ],
        ["PROJECT", "THREAD", "KIND", "ENTRIES", "PENDING", "LAST ACTIVITY"],
    )


def _merge_threads(
    remote: list[dict[str, Any]], local: list[dict[str, Any]]
) -> list[dict[str, Any]]:
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
                "entry_count": t["entries"],
                "pending": t["pending"],
                "last_activity_at": t["last_activity_at"] or t["created_at"],
            }
        )
    rows.sort(key=lambda r: r["last_activity_at"] or "", reverse=True)
    return rows


@thread.command("show")
@click.argument("name")
@click.option("-p", "--project", help="Project of the thread (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, project: str | None, as_json: bool) -> None:
    """Print the entries of thread NAME in order, with timestamps."""
    cfg = load_config(project=project)
    with store() as conn:
        local = notes.thread_entries(conn, cfg.project, name)
    client = _remote(cfg, "entries")
    entries = _remote_entries(client, cfg.project, name) if client else []
    seen = {e["id"] for e in entries}
    entries += [{**e, "pending": True} for e in local if e["pending"] and e["id"] not in seen]
    if client is None:
        entries = local
    if not entries and not local:
        raise click.ClickException(
            f"no thread {cfg.project}/{name}; `threadline thread list` shows them"
        )
    entries.sort(key=lambda e: parse_time(str(e["ts"])))
    if as_json:
        print_json({"project": cfg.project, "name": name, "entries": entries})
        return
    for e in entries:
        mark = "  (queued)" if e.get("pending") else ""
        click.echo(f"[{str(e['ts'])[:19].replace('T', ' ')}] {e['role']}{mark}")
        click.echo(e["text"].rstrip("\n"))
        click.echo("")


def _remote_entries(client: Any, project: str, name: str) -> list[dict[str, Any]]:
    key = p.note_thread_key(project, name)
    matches = [t for t in client.all_threads(project=project) if t["key"] == key]
    if not matches:
        return []
    return [
        {
            "id": e["id"],
            "seq": e["seq"],
            "ts": e["ts"],
            "role": e["role"],
            "text": e["text"],
            "pending": False,
        }
        for e in client.all_entries(matches[0]["id"])
    ]
