"""``threadline ask QUESTION``: a question answered from the history, with citations.

The answer streams to the terminal as the server writes it; the numbered citations follow,
each with the web address of the entry it points at (the server URL, then
``/threads/{id}?around={entry id}``). ``--json`` prints the whole answer as one JSON object
instead (citation ``url`` made absolute). It searches the current folder's project unless
``--project`` or ``--all-projects`` says otherwise, and keeps the conversation there.

``--about FILE`` sends the file's current content with the question (a text file of at most
``protocol.MAX_ABOUT_BYTES`` bytes); its path from the repository root (the folder holding
``.git``, else the current folder) names the conversation, so asking about it again continues
it. Only click is imported at the top: the command starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from threadline.cli.options import check_scope
from threadline.errors import InvalidInput, ServerRefused, ServerUnreachable
from threadline.protocol.text import one_line, printable

#: The hint when the server cannot be reached (or goes away in the middle of an answer).
UNREACHABLE_HINT = (
    "Ask runs on the server: check that it answers (`threadline sync status`), then ask again."
)
#: Said after "nothing found" in one project.
WIDER_HINT = "(--all-projects asks the history of every project)"
#: Seconds to wait for each piece of the answer (``--json`` too reads it as it streams): past
#: the longest a server may wait for a piece of its language model's answer (600 s), so the
#: server's own error comes first.
IDLE_TIMEOUT = 630.0
#: Errors of the language model after which the question is kept in its conversation.
MODEL_ERRORS = ("model_unavailable", "model_failed")


@click.command("ask")
@click.argument("question", nargs=-1, required=True)
@click.option("-p", "--project", help="Search this project (default: the current folder's).")
@click.option("--all-projects", is_flag=True, help="Search every project.")
@click.option("--thread", "thread_id", metavar="ID", help="Continue this conversation.")
@click.option(
    "--scope", metavar="TYPE:ID", callback=check_scope, help="Search only threads of this scope."
)
@click.option("--about", "about", metavar="FILE", help="Ask about this file (sent with it).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def ask(
    question: tuple[str, ...],
    project: str | None,
    all_projects: bool,
    thread_id: str | None,
    scope: str | None,
    about: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the history, citing the entries it comes from."""
    from threadline import config as config_mod
    from threadline.client.api import Api

    if project and all_projects:
        raise click.UsageError("--project and --all-projects exclude each other")
    text = check_question(" ".join(question))
    cfg = config_mod.load({"project": project})
    body: dict[str, Any] = {"question": text}
    if not thread_id or project:
        # A follow-up without --project searches where its conversation did (the server
        # knows), not the current folder's project.
        body["project"] = cfg.project
    if all_projects:
        body["all_projects"] = True
    if thread_id:
        body["thread"] = thread_id
    if scope:
        body["scope"] = scope
    if about:
        body["about"] = read_about(Path(about))
    api = Api.from_config(cfg)
    server = (cfg.server_url or "").rstrip("/")
    try:
        if as_json:
            answer = _whole(api, body)
            _absolute(answer, server)
            import json  # not cli.common: its imports (the local store) cost more than the rest

            click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
            return
        _stream(api, body, server)
    except ServerUnreachable as exc:
        # Its default hint speaks of queued entries; a question is not queued anywhere.
        raise ServerUnreachable(exc.message, hint=UNREACHABLE_HINT) from exc
    except ServerRefused as exc:
        kept = exc.detail.get("thread_id")
        if exc.code in MODEL_ERRORS and isinstance(kept, str):
            exc.hint = (
                f"{exc.hint or ''} The question is kept: `threadline ask --thread {kept} …` "
                "continues the conversation."
            ).strip()
        raise


#: Threads of a project looked at to tell whether it holds any history at all.
PROJECT_PROBE = 50


def _empty(api: Any, project: Any) -> str | None:
    """When the project searched holds no history at all (a mistyped name, or one asked of
    only): what to say instead of the usual hint. ``None`` when it holds some."""
    if not isinstance(project, str) or not project:
        return None
    listed = api.threads(project=project, limit=PROJECT_PROBE)["threads"]
    if any(thread.get("kind") != "ask" for thread in listed) or len(listed) == PROJECT_PROBE:
        return None
    return (
        f"Project {one_line(project)} holds no history (only questions asked of it); "
        "`threadline thread list --all-projects` lists the projects, and --all-projects asks "
        "every one."
    )


def check_question(text: str) -> str:
    """``text`` without its surrounding blanks; :class:`InvalidInput` when it is empty or longer
    than the server takes (``protocol.MAX_QUESTION_CHARS``)."""
    from threadline import protocol as p

    text = text.strip()
    if not text:
        raise InvalidInput(
            "the question is empty", hint='Ask in words, e.g. threadline ask "why did we …?"'
        )
    if len(text) > p.MAX_QUESTION_CHARS:
        raise InvalidInput(
            f"the question is {len(text)} characters; the limit is {p.MAX_QUESTION_CHARS}",
            hint="Ask a shorter question: the words that matter are enough "
            "(--about FILE sends a file with it).",
        )
    return text


def _stream(api: Any, body: dict[str, Any], server: str) -> None:
    """Print the answer as its pieces arrive, then its citations."""
    import json

    out = sys.stdout

    def show(event: Any) -> None:
        data = json.loads(event.data)
        if event.event == "delta":
            out.write(printable(data["text"]))
            out.flush()
        elif event.event == "error":
            out.write("\n")
            raise _refused(data)
        elif event.event == "done":
            out.write("\n")
            _absolute(data, server)
            _print_citations(data)
            if data.get("no_match") and not body.get("all_projects") and not body.get("thread"):
                click.echo(_empty(api, body.get("project")) or WIDER_HINT)

    api.ask_stream(body, show, idle=IDLE_TIMEOUT)


def _whole(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``--json``: read as it streams (each piece within :data:`IDLE_TIMEOUT`,
    however long the whole takes, and the server stops its model if this process goes), the
    ``done`` event's answer — the same JSON as a plain ``POST /ask``."""
    import json

    found: dict[str, Any] = {}

    def keep(event: Any) -> None:
        data = json.loads(event.data)
        if event.event == "error":
            raise _refused(data)
        if event.event == "done":
            found.update(data)

    api.ask_stream(body, keep, idle=IDLE_TIMEOUT)
    if not found:
        raise ServerRefused(
            502, "no_answer", "the server's answer ended before the answer came",
            hint="Ask again; if it keeps happening, see the server's log.",
        )  # fmt: skip
    return found


def _refused(data: dict[str, Any]) -> ServerRefused:
    """The ``error`` event of an answer stream, as the error it says."""
    error = data.get("error") or {}
    detail = error.get("detail") or {}
    return ServerRefused(
        502, str(error.get("code")), str(error.get("message")), detail,
        hint=detail.get("hint") if isinstance(detail.get("hint"), str) else None,
    )  # fmt: skip


def _absolute(answer: dict[str, Any], server: str) -> None:
    for citation in answer.get("citations") or ():
        if str(citation.get("url", "")).startswith("/"):
            citation["url"] = server + citation["url"]


def _print_citations(answer: dict[str, Any]) -> None:
    citations = answer.get("citations") or []
    if citations:
        click.echo("")
    for c in citations:
        title = one_line(c.get("thread_title") or c["thread_id"])
        when = one_line(str(c["ts"]))[:19].replace("T", " ")
        click.echo(f"[{c['n']}] {title} · {c.get('role', '')} · {when}")
        click.echo(f"    {c['url']}")
    click.echo(f"\nConversation: threadline ask --thread {answer['thread_id']} …")


def read_about(path: Path) -> dict[str, str]:
    """``{"path", "content"}`` of the file ``path``: its path from the root of the current
    folder's repository (else from the current folder), its text. :class:`InvalidInput` when
    it is missing, too big, not text, or outside that root (in another repository, say)."""
    from threadline import protocol as p

    if path.is_dir():
        raise InvalidInput(
            f"{path} is a folder; --about takes a file", hint="Give the path of a text file."
        )
    if not path.is_file():
        raise InvalidInput(f"no file {path}", hint="Give the path of a text file to ask about.")
    size = path.stat().st_size
    if size > p.MAX_ABOUT_BYTES:
        raise InvalidInput(
            f"{path} is {size} bytes; --about takes files of at most {p.MAX_ABOUT_BYTES} bytes",
            hint="Ask about a smaller file, or copy the part that matters into one.",
        )
    data = path.read_bytes()
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        content = ""
    if b"\x00" in data or (data and not content):
        raise InvalidInput(f"{path} is not a UTF-8 text file", hint="--about takes text files.")
    resolved = path.resolve()
    # the repository of the current folder: it names the project the conversation is kept in
    root = repository_root(Path.cwd().resolve())
    try:
        relative = resolved.relative_to(root)
    except ValueError:
        raise InvalidInput(
            f"{path} is outside {root}",
            hint="Ask about a file of the repository you are in (its project keeps the "
            "conversation), or ask from the file's own repository.",
        ) from None
    name = relative.as_posix()
    try:
        if len(name) > p.MAX_ABOUT_PATH_CHARS:
            raise ValueError(f"it is longer than {p.MAX_ABOUT_PATH_CHARS} characters")
        p.parse_scope(f"file:{name}")  # the path names the conversation's scope
    except ValueError as exc:
        raise InvalidInput(
            f"the path {one_line(repr(name))} cannot name a conversation: {exc}",
            hint="Ask about a copy of the file under a plain name (no control characters, no "
            "space at either end).",
        ) from None
    return {"path": name, "content": content}


def repository_root(start: Path) -> Path:
    """The folder holding ``.git`` at or above ``start``, else the current folder."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return Path.cwd().resolve()
