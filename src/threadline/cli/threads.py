"""``threadline thread new|list|show``.

``--scope TYPE:ID`` names the project's thread about one thing (``pr:123``): ``new`` gets or
creates it, ``list`` filters by it (``--scope-type`` by its type alone), ``show`` reads it.

With a server configured and answering, ``list`` and ``show`` read the server — so threads
and entries from every device of the user appear — together with what this machine has not
delivered yet. Without one they read the local store and say so on stderr. The merge is
:mod:`threadline.sync.views`; this module parses the arguments and prints.
"""

from __future__ import annotations

from typing import Any

import click

from threadline import protocol as p
from threadline.cli.common import api, load_config, print_json, relative_time, store, table, warn
from threadline.cli.options import check_scope
from threadline.errors import ClientError, NotLoggedIn, ServerRefused
from threadline.protocol.text import one_line, printable
from threadline.store import notes
from threadline.sync import views


@click.group("thread")
def thread() -> None:
    """Create, list and read note threads."""


def _scope_type_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    if value is not None:
        try:
            p.parse_scope_type(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


SCOPE_HELP = "The thread about TYPE:ID (e.g. pr:123, file:docs/spec.md) in the project."


@thread.command("new")
@click.argument("name")
@click.option("-p", "--project", help="Project (default: threadline.toml, git remote, folder).")
@click.option(
    "-s",
    "--scope",
    metavar="TYPE:ID",
    callback=check_scope,
    help=SCOPE_HELP + " Its thread is returned if it has one already.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def new(name: str, project: str | None, scope: str | None, as_json: bool) -> None:
    """Create the note thread NAME (locally, and on the server when it answers).

    With --scope, the project's thread of that scope is the one: if it exists (on this machine
    or on the server) it is the answer, whatever its name."""
    cfg = load_config(project=project)
    with store() as conn:
        thread_id, created = notes.ensure_thread(conn, cfg.project, name, scope)
        name = notes.thread_name(conn, thread_id)  # a scope's thread keeps its own name
    where, server_id = "locally", None
    body = {"name": name, "project": cfg.project, "kind": "note"}
    if scope is not None:
        body["scope"] = scope
    try:
        thread, created = api(cfg, timeout=cfg.push_timeout).create_or_get_thread(body)
        where, server_id, name = "locally and on the server", thread["id"], thread["name"]
    except NotLoggedIn:
        pass
    except ClientError as exc:
        if isinstance(exc, ServerRefused) and exc.code == "thread_exists":
            where, server_id, created = "on the server", exc.detail.get("thread_id"), False
        else:
            warn(f"the server will learn of it with its first entry ({exc.message})")
    if as_json:
        print_json(
            {"id": server_id, "name": name, "project": cfg.project, "scope": scope}
            | {"created": created, "on_server": server_id is not None}
        )
        return
    label = f"{cfg.project}/{name}" + (f" [{scope}]" if scope is not None else "")
    state = "created" if created else "already exists"
    ident = f" (id {server_id})" if server_id else ""
    click.echo(f"Thread {label} {state} {where}{ident}.")


@thread.command("list")
@click.option("-p", "--project", help="Only threads of this project.")
@click.option("--all-projects", is_flag=True, help="Threads of every project.")
@click.option(
    "-s",
    "--scope",
    metavar="TYPE:ID",
    callback=check_scope,
    help="Only the thread(s) of this scope.",
)
@click.option(
    "--scope-type",
    metavar="TYPE",
    callback=_scope_type_option,
    help="Only threads whose scope has this type (e.g. pr).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(
    project: str | None,
    all_projects: bool,
    scope: str | None,
    scope_type: str | None,
    as_json: bool,
) -> None:
    """List threads, most recent activity first (of the current project by default)."""
    cfg = load_config(project=project)
    where = views.ScopeFilter(scope, scope_type)
    with store() as conn:
        view = views.threads(conn, cfg, None if all_projects else cfg.project, where)
    _note_local_only("threads", view.local_only)
    rows = view.rows
    if as_json:
        print_json(rows)
        return
    if not rows:
        if where.active:
            click.echo("No thread of this scope.")
        else:
            click.echo("No threads yet. Record one with `threadline push MESSAGE`.")
        return
    scoped = any(r.get("scope") for r in rows)
    titled = any(_title(r) for r in rows)
    table(
        [
            [
                r["project"],
                _short(r["name"]),
                *([r.get("scope") or ""] if scoped else []),
                r["kind"],
                str(r["entry_count"]),
                str(r["pending"]),
                relative_time(r["last_activity_at"]),
                *([_title(r)] if titled else []),
            ]
            for r in rows
        ],
        [
            "PROJECT",
            "THREAD",
            *(["SCOPE"] if scoped else []),
            "KIND",
            "ENTRIES",
            "PENDING",
            "LAST ACTIVITY",
            *(["TITLE"] if titled else []),
        ],
    )


def _title(row: dict[str, Any]) -> str:
    """A thread's title on one line, cut to :data:`NAME_CHARS`, when it says more than its
    name (a session is named by its id and titled by its summary or first prompt)."""
    title = one_line(str(row.get("title") or ""))
    return "" if not title or title == one_line(str(row["name"])) else _short(title)


@thread.command("show")
@click.argument("name", required=False)
@click.option("-p", "--project", help="Project of the thread (default: the current one).")
@click.option(
    "-s",
    "--scope",
    metavar="TYPE:ID",
    callback=check_scope,
    help="The thread of this scope (then NAME is not needed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str | None, project: str | None, scope: str | None, as_json: bool) -> None:
    """Print the entries of thread NAME (or of the thread of --scope) in order, with
    timestamps. NAME is a note thread's name, or any thread's id or name as `thread list`
    shows it (a session's, an ask conversation's)."""
    if name is None and scope is None:
        raise click.UsageError("give the thread's NAME, or its --scope TYPE:ID")
    cfg = load_config(project=project)
    with store() as conn:
        view = views.entries(conn, cfg, cfg.project, name or "", scope)
    _note_local_only("entries", view.local_only)
    label = f"{cfg.project}/{name}" if scope is None else f"{cfg.project} [{scope}]"
    if not view.found:
        raise click.ClickException(f"no thread {label}; `threadline thread list` shows them")
    entries = view.entries
    if as_json:
        thread = view.thread or {}
        print_json(
            {
                "project": thread.get("project", cfg.project),
                "name": thread.get("name", name),
                "scope": thread.get("scope", scope),
                "thread_id": thread.get("id"),
                "entries": entries,
            }
        )
        return
    for e in entries:
        mark = "  (queued)" if e.get("pending") else ""
        click.echo(f"[{str(e['ts'])[:19].replace('T', ' ')}] {e['role']}{mark}")
        click.echo(_readable(e).rstrip("\n"))
        click.echo("")


#: Characters of a thread's name `thread list` shows (an ask conversation is named by its
#: question, of up to 2,000); ``--json`` has it whole.
NAME_CHARS = 60


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def _readable(entry: dict[str, Any]) -> str:
    """An entry as text: its text, thinking, tool calls (``key: value``) and tool output, as
    ask quotes them — control characters and terminal escapes taken out; an entry without
    any as its record's type (``(progress/hook_progress)``), or ``(no text)``."""
    from threadline.recall.model import source_from  # its stemmer costs `thread list` 40 ms

    meta = entry.get("meta")
    mine = meta.get("ask") if isinstance(meta, dict) else None
    if entry.get("role") == "assistant" and isinstance(mine, dict) and entry.get("text"):
        # An answer of ask: its text, then where its citations point (its parts put the
        # references first, for the web's Markdown).
        listed = mine.get("citations")
        cited = listed if isinstance(listed, list) else []
        links = [f"[{c.get('n')}] {c.get('url')}" for c in cited if isinstance(c, dict)]
        return printable("\n".join([str(entry["text"]).rstrip(), *links]))
    text = source_from(
        entry_id=str(entry["id"]),
        thread_id="",
        seq=int(entry.get("seq") or 0),
        ts=str(entry["ts"]),
        role=str(entry["role"]),
        text=str(entry.get("text") or ""),
        parts=entry.get("parts"),
        meta=entry.get("meta"),
    ).text
    if text.strip():
        return text
    record = meta.get("record") if isinstance(meta, dict) else None
    if isinstance(record, str) and record and record != entry.get("role"):
        return f"({one_line(record)})"
    return "(no text)"


def _note_local_only(what: str, why: str | None) -> None:
    if why is not None:
        warn(f"showing {what} of this machine only: {why}")
