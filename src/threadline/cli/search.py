"""``threadline search QUERY``: find entries on the server, in the current project by default.

The search runs on the server (``GET /api/v1/search``), over every device's entries; what this
machine has not delivered yet is not searched. ``--json`` prints the server's answer with each
``url`` made absolute (the configured server URL in front), so it opens the entry in a browser.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from threadline import protocol as p
from threadline.cli.common import api, load_config, print_json
from threadline.cli.options import check_scope
from threadline.errors import ServerUnreachable
from threadline.protocol.text import one_line

_DAY = click.DateTime(formats=["%Y-%m-%d"])
UNREACHABLE_HINT = "Search runs on the server: check that it answers (`threadline sync status`)."


@click.command("search")
@click.argument("query")
@click.option("-p", "--project", help="Only this project (default: the current folder's).")
@click.option("--all-projects", is_flag=True, help="Search every project.")
@click.option("--kind", type=click.Choice(list(p.KINDS)), help="Only threads of this kind.")
@click.option("--agent", type=click.Choice(["claude-code", "codex"]), help="Only its sessions.")
@click.option("--role", type=click.Choice(list(p.ROLES)), help="Only entries of this role.")
@click.option("--thread", "thread_id", metavar="ID", help="Only this thread (its server id).")
@click.option(
    "--scope",
    metavar="TYPE:ID",
    callback=check_scope,
    help="Only threads of this scope (pr:123 …).",
)
@click.option("--since", type=_DAY, help="From this day (YYYY-MM-DD, UTC).")
@click.option("--until", type=_DAY, help="Up to this day, included (YYYY-MM-DD, UTC).")
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
    thread_id: str | None,
    scope: str | None,
    since: datetime | None,
    until: datetime | None,
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
    cfg = load_config(project=project)
    client = api(cfg)
    try:
        page = client.search(
            query,
            project=None if all_projects else cfg.project,
            kind=kind,
            agent=agent,
            role=role,
            thread=thread_id,
            scope=scope,
            since=since.date().isoformat() if since else None,
            until=until.date().isoformat() if until else None,
            limit=limit,
            cursor=cursor,
        )
    except ServerUnreachable as exc:
        # Its default hint speaks of queued entries; a search sends nothing and queues nothing.
        raise ServerUnreachable(exc.message, hint=UNREACHABLE_HINT) from exc
    base = client.base_url
    for hit in page["results"]:
        hit["url"] = base + hit["url"]
    if as_json:
        print_json(page)
        return
    where = "any project" if all_projects else f"project {cfg.project or '(none)'}"
    _print(page, where, bold=sys.stdout.isatty())


def _print(page: dict[str, Any], where: str, *, bold: bool) -> None:
    results = page["results"]
    if not results:
        wider = "" if where == "any project" else " (--all-projects searches every project)"
        click.echo(f"No entries match {page['query']!r} in {where}{wider}.")
        return
    for hit in results:
        title = one_line(hit.get("thread_title") or hit.get("thread_name") or hit["thread_id"])
        when = str(hit["ts"])[:19].replace("T", " ")
        click.echo(click.style(title, bold=bold) + f"  ·  {one_line(hit['project'] or '-')}")
        click.echo(f"  {when}  {hit['role']}")
        click.echo("  " + _marked(hit["snippet"], hit.get("highlights") or [], bold))
        click.echo(f"  {hit['url']}")
        click.echo("")
    if page.get("next_cursor"):
        click.echo(f"More: add --cursor {page['next_cursor']}")


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
