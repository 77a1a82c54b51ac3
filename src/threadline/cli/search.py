"""``threadline search QUERY``: find entries on the server, in the current project by default.

The search runs on the server (``GET /api/v1/search``), over every device's entries; what this
machine has not delivered yet is not searched. ``--json`` prints the server's answer with each
``url`` made absolute (the configured server URL in front), so it opens the entry in a browser.

``--thread`` takes a thread's name or id as ``threadline thread list`` shows it, found as
``threadline thread show`` finds one (in the project, in any with ``--all-projects``, or by
its id anywhere); ``--since`` and ``--until`` a UTC day or an ISO 8601 date-time. When nothing
matches, the message names the filters that narrowed the search, or says that the project
holds no threads at all.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, date, datetime, time
from typing import Any

import click

from threadline import protocol as p
from threadline.cli.common import api, load_config, print_json
from threadline.cli.options import check_scope
from threadline.client.api import Api
from threadline.errors import InvalidInput, ServerRefused, ServerUnreachable
from threadline.protocol.text import one_line
from threadline.sync import views

UNREACHABLE_HINT = "Search runs on the server: check that it answers (`threadline sync status`)."
WHEN_HINT = (
    "Give a UTC day, YYYY-MM-DD, or an ISO 8601 date-time such as 2025-09-25T01:40:00Z "
    "(with an offset, +02:00, or without one: UTC)."
)
#: Word matches the server ranks per query, the most recently stored (docs/protocol.md).
RANKED = 300


def _project(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--project``: an empty name is a usage error (it would mean the current folder's)."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "the project name is empty; leave --project out for the current folder's project"
        )
    return value


def _when(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """``--since`` / ``--until``: a UTC day (a :class:`date`), or an ISO 8601 date-time as an
    aware UTC :class:`datetime` (one without an offset is UTC, as the times printed are).
    Anything else is an ``Error:`` and a ``Hint:``, before anything is sent."""
    if value is None:
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"--{param.name} {one_line(value)!r} is not a date or a date-time", hint=WHEN_HINT
        ) from None


@click.command("search")
@click.argument("query")
@click.option(
    "-p",
    "--project",
    callback=_project,
    help="Only this project (default: the current folder's).",
)
@click.option("--all-projects", is_flag=True, help="Search every project.")
@click.option("--kind", type=click.Choice(list(p.KINDS)), help="Only threads of this kind.")
@click.option("--agent", type=click.Choice(["claude-code", "codex"]), help="Only its sessions.")
@click.option("--role", type=click.Choice(list(p.ROLES)), help="Only entries of this role.")
@click.option(
    "--thread",
    "thread_name",
    metavar="NAME|ID",
    help="Only this thread: its name or id, as `threadline thread list` shows it.",
)
@click.option(
    "--scope",
    metavar="TYPE:ID",
    callback=check_scope,
    help="Only threads of this scope (pr:123 …).",
)
@click.option(
    "--since",
    metavar="WHEN",
    callback=_when,
    help="From this UTC day (YYYY-MM-DD) or time (2025-09-25T01:40:00Z; UTC without offset).",
)
@click.option(
    "--until",
    metavar="WHEN",
    callback=_when,
    help="Up to this UTC day, included, or up to this time, included.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, p.MAX_SEARCH_LIMIT),
    default=p.DEFAULT_SEARCH_LIMIT,
    show_default=True,
    help="Results per page.",
)
@click.option("--cursor", help="The next page: the cursor a previous search printed.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def search(
    query: str,
    project: str | None,
    all_projects: bool,
    kind: str | None,
    agent: str | None,
    role: str | None,
    thread_name: str | None,
    scope: str | None,
    since: date | None,
    until: date | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Find QUERY in the text of your entries: prompts, replies, tool calls and their output.

    Words match whole and without case; `rate-limit`, `os.path.join` and paths match as
    phrases; "quoted words" are a phrase; `auth*` is a prefix; OR and NOT (in capitals) work
    between terms. Text inside a word (`Limiter` in `RateLimiter`) is found after the words.
    """
    if project and all_projects:
        raise click.UsageError("--project and --all-projects exclude each other")
    if since is not None and until is not None and _first(since) > _last(until):
        raise InvalidInput(
            f"--since {_wire(since)} is later than --until {_wire(until)}",
            hint="Nothing is both: give an earlier --since or a later --until "
            "(both UTC; a day's --until includes the whole day).",
        )
    cfg = load_config(project=project)
    client = api(cfg)
    searched = None if all_projects else cfg.project
    filters = [
        f"--{name} {shlex.quote(one_line(value))}"
        for name, value in (
            ("kind", kind),
            ("agent", agent),
            ("role", role),
            ("thread", thread_name),
            ("scope", scope),
            ("since", _wire(since) if since is not None else None),
            ("until", _wire(until) if until is not None else None),
        )
        if value is not None
    ]
    try:
        thread = None if thread_name is None else _thread(client, thread_name, searched)
        if thread is not None:
            searched = str(thread["project"])  # by its id, it may be another project's
        page = client.search(
            query,
            project=searched,
            kind=kind,
            agent=agent,
            role=role,
            thread=None if thread is None else thread["id"],
            scope=scope,
            since=_wire(since) if since is not None else None,
            until=_wire(until) if until is not None else None,
            limit=limit,
            cursor=cursor,
        )
        base = client.base_url
        for hit in page["results"]:
            hit["url"] = base + hit["url"]
        if as_json:
            print_json(page)
        elif page["results"]:
            _print(page, bold=sys.stdout.isatty())
        else:
            click.echo(_no_match(client, page["query"], searched, filters, thread is not None))
    except ServerUnreachable as exc:
        # Its default hint speaks of queued entries; a search sends nothing and queues nothing.
        raise ServerUnreachable(exc.message, hint=UNREACHABLE_HINT) from exc


def _wire(when: date) -> str:
    """A ``--since`` / ``--until`` value as the API takes it: ``YYYY-MM-DD``, or an RFC 3339
    UTC date-time."""
    return when.isoformat().replace("+00:00", "Z")


def _first(when: date) -> datetime:
    """The first instant ``when`` covers (a day's midnight, UTC)."""
    return when if isinstance(when, datetime) else datetime.combine(when, time(), UTC)


def _last(when: date) -> datetime:
    """The last instant ``when`` covers (a day's last microsecond, UTC)."""
    return when if isinstance(when, datetime) else datetime.combine(when, time.max, UTC)


def _thread(client: Api, name: str, project: str | None) -> dict[str, Any]:
    """The server's thread ``--thread`` names, found as ``threadline thread show`` finds one:
    the thread with that id (in any project); else the thread of ``project`` (of any project
    when ``None``) with that name, a note thread before another thread of the same name (a
    session is named by its id). :class:`InvalidInput` when there is none, or several."""
    if views.THREAD_ID.fullmatch(name):
        try:
            found: dict[str, Any] = client.thread(name)
            return found
        except ServerRefused as exc:
            if exc.status != 404:
                raise
    named = [t for t in client.all_threads(project=project, q=name) if t["name"] == name]
    if project is not None:
        note = p.note_thread_key(project, name)
        named = [t for t in named if t["key"] == note] or named
    if len(named) == 1:
        return named[0]
    where = "any project" if project is None else f"project {one_line(project or '(none)')}"
    if not named:
        listing = (
            "`threadline thread list --all-projects` shows every thread"
            if project is None
            else "`threadline thread list` shows the project's threads (--all-projects: all)"
        )
        raise InvalidInput(
            f"no thread {one_line(name)!r} in {where}",
            hint=f"{listing}; --thread takes a name or id as it shows them.",
        )
    ids = ", ".join(f"{t['id']} ({one_line(t['project'] or '-')})" for t in named[:3])
    raise InvalidInput(
        f"{len(named)} threads are named {one_line(name)!r} in {where}: {ids}"
        + (" …" if len(named) > 3 else ""),
        hint="Give --thread the id of the one to search.",
    )


def _no_match(
    client: Api, query: str, project: str | None, filters: list[str], in_thread: bool
) -> str:
    """What to say when nothing matched: where was searched and with which filters, and how to
    widen the search — or that the project holds no thread at all (asked only now)."""
    said = f"No entries match {query!r}"
    wider = project is not None and not in_thread
    if wider and not client.threads(project=project, limit=1)["threads"]:
        return (
            f"{said}: project {one_line(project or '(none)')} holds no threads; "
            "`threadline thread list --all-projects` lists the projects."
        )
    where = "any project" if project is None else f"project {one_line(project or '(none)')}"
    narrowed = f" with {' '.join(filters)}" if filters else ""
    tips = ["drop or widen a filter to find more"] if filters else []
    tips += ["--all-projects searches every project"] if wider else []
    return f"{said} in {where}{narrowed}" + (f" ({'; '.join(tips)})" if tips else "") + "."


def _print(page: dict[str, Any], *, bold: bool) -> None:
    for hit in page["results"]:
        title = one_line(hit.get("thread_title") or hit.get("thread_name") or hit["thread_id"])
        when = str(hit["ts"])[:19].replace("T", " ")
        click.echo(click.style(title, bold=bold) + f"  ·  {one_line(hit['project'] or '-')}")
        click.echo(f"  {when}  {hit['role']}")
        click.echo("  " + _marked(hit["snippet"], hit.get("highlights") or [], bold))
        click.echo(f"  {hit['url']}")
        click.echo("")
    if page.get("next_cursor"):
        click.echo(f"More: add --cursor {page['next_cursor']}")
    if page.get("capped"):
        click.echo(
            f"Only the newest {RANKED} matches were ranked; add a word or a filter to reach "
            "older ones."
        )


def _marked(snippet: str, highlights: list[list[int]], bold: bool) -> str:
    """``snippet`` with its highlighted ranges in bold (on a terminal), its control
    characters taken out (each piece alone, so the ranges still point where they did)."""
    if not bold:
        return one_line(snippet)
    out, position = [], 0
    for start, end in sorted((int(s), int(e)) for s, e in highlights):
        if start < position or end > len(snippet):
            continue
        out.append(one_line(snippet[position:start]))
        out.append(click.style(one_line(snippet[start:end]), bold=True))
        position = end
    out.append(one_line(snippet[position:]))
    return "".join(out)
