"""``threadline thread new|list|show``.

With a server configured and answering, ``list`` and ``show`` read the server — so threads
and entries from every device of the user appear — together with what this machine has not
delivered yet. Without one they read the local store and say so on stderr. The merge is
:mod:`threadline.sync.views`; this module parses the arguments and prints.
"""

from __future__ import annotations

import click

from threadline.cli.common import api, load_config, print_json, relative_time, store, table, warn
from threadline.errors import ClientError, NotLoggedIn, ServerRefused
from threadline.store import notes
from threadline.sync import views


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


@thread.command("list")
@click.option("-p", "--project", help="Only threads of this project.")
@click.option("--all-projects", is_flag=True, help="Threads of every project.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(project: str | None, all_projects: bool, as_json: bool) -> None:
    """List threads, most recent activity first (of the current project by default)."""
    cfg = load_config(project=project)
    with store() as conn:
        view = views.threads(conn, cfg, None if all_projects else cfg.project)
    _note_local_only("threads", view.local_only)
    rows = view.rows
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


@thread.command("show")
@click.argument("name")
@click.option("-p", "--project", help="Project of the thread (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, project: str | None, as_json: bool) -> None:
    """Print the entries of thread NAME in order, with timestamps."""
    cfg = load_config(project=project)
    with store() as conn:
        view = views.entries(conn, cfg, cfg.project, name)
    _note_local_only("entries", view.local_only)
    if not view.found:
        raise click.ClickException(
            f"no thread {cfg.project}/{name}; `threadline thread list` shows them"
        )
    entries = view.entries
    if as_json:
        print_json({"project": cfg.project, "name": name, "entries": entries})
        return
    for e in entries:
        mark = "  (queued)" if e.get("pending") else ""
        click.echo(f"[{str(e['ts'])[:19].replace('T', ' ')}] {e['role']}{mark}")
        click.echo(e["text"].rstrip("\n"))
        click.echo("")


def _note_local_only(what: str, why: str | None) -> None:
    if why is not None:
        warn(f"showing {what} of this machine only: {why}")
