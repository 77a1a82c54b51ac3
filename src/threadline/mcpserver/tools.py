"""What each tool of the agents' server does: plain functions over the API client.

A tool reads the settings afresh on every call — the signed-in server and token of this
machine, as every other command does, and the project of the folder the agent started the
server in — so a ``threadline login`` after the agent started takes effect at once, and one
user's token never reaches another user's data (the server answers ``404`` for it). Each tool
answers a :class:`Result`: text for the model to read (see :mod:`.render`) and the same facts
as structured data; failures are :class:`~threadline.errors.ThreadlineError` values, which the
server turns into tool errors.

``push_note`` records the note the way ``threadline push`` does: committed to the local store
first, then delivered within ``push_timeout`` — so nothing is lost while the server is away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline import config as config_mod
from threadline import protocol as p
from threadline.client.api import Api
from threadline.errors import InvalidInput
from threadline.mcpserver import render
from threadline.store import db, notes
from threadline.sync import deliver

#: Seconds a read waits for the server; ``ask`` may wait for a language model.
READ_TIMEOUT = 15.0
ASK_TIMEOUT = 120.0


#: What a thread or entry id looks like (they are UUIDs); anything else never reaches a URL.
ID = re.compile(r"[A-Za-z0-9-]{1,64}")
ID_PATTERN = "^" + ID.pattern + "$"


def check_id(value: str, what: str) -> None:
    if not ID.fullmatch(value):
        raise InvalidInput(
            f"{what} is not an id: {render.label(value[:80])}",
            hint="Pass an id exactly as a search or list_threads result gave it.",
        )


@dataclass(frozen=True)
class Result:
    """A tool's answer: ``text`` for the model, ``data`` for programs (both say the same)."""

    text: str
    data: dict[str, Any]


class Tools:
    """The tools' work for the user signed in on this machine, in the folder ``cwd`` (the
    server's working folder when ``None``)."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd

    def _config(self, **flags: Any) -> config_mod.Config:
        return config_mod.load(flags, cwd=self.cwd)

    @staticmethod
    def _api(cfg: config_mod.Config, timeout: float = READ_TIMEOUT) -> Api:
        return Api.from_config(cfg, timeout=timeout)

    @staticmethod
    def _where(cfg: config_mod.Config, project: str | None, all_projects: bool) -> str | None:
        """The project to look in: ``None`` for every project."""
        if all_projects and project:
            raise InvalidInput("pass either project or all_projects, not both")
        if all_projects:
            return None
        where = project or cfg.project
        if not where:
            raise InvalidInput(
                "the folder this server runs in names no project",
                hint="Pass project=NAME (list_threads with all_projects=true shows the "
                "projects) or all_projects=true.",
            )
        return where

    # --- search ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        project: str | None = None,
        all_projects: bool = False,
        kind: str | None = None,
        role: str | None = None,
        limit: int = 10,
        cursor: str | None = None,
    ) -> Result:
        if not query.strip():
            raise InvalidInput("the query is empty", hint="Pass the words to look for.")
        cfg = self._config()
        where = self._where(cfg, project, all_projects)
        api = self._api(cfg)
        page = api.search(
            query, project=where, kind=kind, role=role, limit=limit, cursor=cursor or None
        )
        hits = [{**h, "url": render.absolute(api.base_url, str(h["url"]))} for h in page["results"]]
        more = page.get("next_cursor")
        data = {"notice": render.NOTICE, **page, "project": where, "results": hits}
        data["next_cursor"] = more
        return Result(_search_text(query, where, hits, more), data)

    # --- ask -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        project: str | None = None,
        all_projects: bool = False,
        thread: str | None = None,
    ) -> Result:
        if not question.strip():
            raise InvalidInput("the question is empty", hint="Pass the question to answer.")
        cfg = self._config()
        follow_up = bool(thread) and not project and not all_projects
        # a follow-up searches where its conversation did: no project of this folder needed
        where = cfg.project or None if follow_up else self._where(cfg, project, all_projects)
        api = self._api(cfg, ASK_TIMEOUT)
        # The conversation is kept in a project even when every project is searched.
        body: dict[str, Any] = {"question": question, "project": where or cfg.project}
        body.update(all_projects=all_projects, thread=thread)
        if thread and not project and not all_projects:
            # A follow-up searches where its conversation did (the server knows).
            del body["project"]
        answer = api.ask(body, timeout=ASK_TIMEOUT)
        cites = [
            {**c, "url": render.absolute(api.base_url, str(c["url"]))}
            for c in answer.get("citations") or []
        ]
        if thread and not project and not all_projects:
            where = answer.get("searched_project")
        data = {"notice": render.NOTICE, **answer, "project": where, "citations": cites}
        return Result(_ask_text(data), data)

    # --- threads ---------------------------------------------------------------------------

    def list_threads(
        self,
        project: str | None = None,
        all_projects: bool = False,
        kind: str | None = None,
        scope: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Result:
        cfg = self._config()
        where = self._where(cfg, project, all_projects)
        api = self._api(cfg)
        page = api.threads(
            project=where, kind=kind, scope=scope, limit=limit, cursor=cursor or None
        )
        threads = [
            {**t, "url": render.absolute(api.base_url, f"/threads/{t['id']}")}
            for t in page["threads"]
        ]
        more = page.get("next_cursor")
        data = {"notice": render.NOTICE, "project": where, "threads": threads, "next_cursor": more}
        return Result(_threads_text(where, threads, api.base_url, more), data)

    def read_thread(
        self,
        thread_id: str,
        around: str | None = None,
        before: int = 5,
        limit: int = 20,
        cursor: str | None = None,
        max_chars: int = render.ENTRY_CHARS,
        find: str | None = None,
    ) -> Result:
        check_id(thread_id, "thread_id")
        find = (find or "").strip() or None
        if around is not None:
            check_id(around, "around")
        cfg = self._config()
        api = self._api(cfg)
        thread = api.call("GET", f"{p.API_PREFIX}/threads/{thread_id}")
        query: dict[str, Any] = {"limit": limit, "cursor": cursor}
        if around and not cursor:
            # the entry asked about is always on the page, however few it holds
            query.update(around=around, before=min(before, limit - 1))
        base = api.base_url

        def shown(page: dict[str, Any]) -> list[dict[str, Any]]:
            return [
                {
                    "id": e["id"],
                    "seq": e["seq"],
                    "ts": e["ts"],
                    "role": e["role"],
                    "text": render.entry_text(e, max_chars, find),
                    "url": render.entry_url(base, thread_id, e["id"]),
                }
                for e in page["entries"]
            ]

        page = api.entries(thread_id, **query)
        entries = shown(page)
        fits = _fitting(entries)
        if fits < len(entries):  # the page again, shorter: its cursor goes on from there
            query["limit"] = fits
            if "before" in query:
                query["before"] = min(query["before"], fits - 1)
            page = api.entries(thread_id, **query)
            entries = shown(page)[:fits]
        summary = {k: thread.get(k) for k in ("id", "title", "name", "kind", "project")}
        summary["entry_count"] = thread.get("entry_count")
        summary["url"] = render.absolute(base, f"/threads/{thread_id}")
        data = {"notice": render.NOTICE, "thread": summary, "around": around, "entries": entries}
        data["next_cursor"] = page.get("next_cursor")
        return Result(_read_text(data), data)

    # --- push a note -----------------------------------------------------------------------

    def push_note(
        self,
        text: str,
        thread: str | None = None,
        project: str | None = None,
        scope: str | None = None,
    ) -> Result:
        if not text.strip():
            raise InvalidInput("the note is empty", hint="Pass the text to record.")
        cfg = self._config(thread=thread, project=project)
        self._where(cfg, project, False)  # a note is kept in a project: one must be named
        # As `push --scope`: the scope names the thread; a name is only its label if created.
        name = cfg.thread if scope is None else thread or scope[: p.MAX_NAME_CHARS]
        conn = db.connect()
        try:
            added = notes.append(
                conn, project=cfg.project, name=name, role="assistant", text=text, scope=scope
            )
            delivered, why = deliver.deliver_entry(conn, cfg, (added.stream_id, added.seq))
        finally:
            conn.close()
        data = {
            "entry_id": added.uuid,
            "project": cfg.project,
            "thread": added.name,
            "scope": scope,
            "seq": added.seq,
            "delivered": delivered,
            "queued_because": why or None,
        }
        where = f"{render.label(added.name)} of project {render.label(cfg.project)}"
        if scope is not None:
            where += f" (scope {render.label(scope)})"
        if delivered:
            said = f"Recorded note {added.uuid} in thread {where}; the server has it."
        else:
            said = (
                f"Recorded note {added.uuid} in thread {where} on this machine. It is queued "
                f"for the server — {why} — and goes with the next push, sync or daemon pass."
            )
        return Result(said, data)


def _scope(project: str | None) -> str:
    return f"project {render.label(project)}" if project else "every project"


def _fitting(entries: list[dict[str, Any]]) -> int:
    """How many of ``entries`` (at least one) fit in :data:`render.PAGE_CHARS`."""
    total = 0
    for n, entry in enumerate(entries):
        total += len(entry["text"])
        if total > render.PAGE_CHARS and n:
            return n
    return len(entries)


def _more(what: str, cursor: str | None) -> list[str]:
    """The closing lines of a page that has a next one."""
    if not cursor:
        return []
    return ["", f"More {what} exist: pass cursor={render.label(cursor)} for more."]


def _search_text(
    query: str, project: str | None, hits: list[dict[str, Any]], cursor: str | None
) -> str:
    head = f"Search {render.label(query)} in {_scope(project)}: {len(hits)} result(s)."
    if not hits:
        wider = " all_projects=true searches every project's." if project is not None else ""
        return head + " Nothing in the stored history matches." + wider
    lines = [head, render.NOTICE, ""]
    for n, hit in enumerate(hits, 1):
        title = hit.get("thread_title") or hit.get("thread_name") or ""
        lines.append(
            f"[{n}] entry {hit['entry_id']} · thread {hit['thread_id']} {render.label(title)} "
            f"({hit.get('kind')}, project {render.label(hit.get('project') or '')}) · "
            f"{hit['role']} · {hit['ts']}"
        )
        lines.append(f"    {hit['url']}")
        lines.append(render.quote(str(hit.get("snippet") or ""), "    "))
    lines.append("")
    lines.append(
        "read_thread with thread_id and around=<entry id> shows a hit in its context; "
        "find=<the query> shows where it matched inside a long entry or tool output."
    )
    lines += _more("results", cursor)
    return "\n".join(lines)


def _ask_text(data: dict[str, Any]) -> str:
    question = render.label(data.get("question") or "")
    if data.get("no_match"):
        lines = [f"Ask {question} in {_scope(data['project'])}: nothing in the history answers it."]
        if data.get("project") is not None:
            lines.append("all_projects=true asks the history of every project.")
    else:
        lines = [
            f"Ask {question} in {_scope(data['project'])}.",
            render.NOTICE,
            "Answer composed from the history (its [n] point at the citations below):",
            render.quote(str(data.get("answer") or "")),
            "",
            "Citations:",
        ]
        for cite in data["citations"]:
            lines.append(
                f"[{cite['n']}] entry {cite['entry_id']} · thread {cite['thread_id']} · "
                f"{cite['ts']} · {cite['url']}"
            )
            lines.append(render.quote(str(cite.get("snippet") or ""), "    "))
    if data.get("thread_id"):
        lines.append("")
        lines.append(f"Conversation thread {data['thread_id']}: pass it as thread to follow up.")
    return "\n".join(lines)


def _threads_text(
    project: str | None, threads: list[dict[str, Any]], base_url: str, cursor: str | None
) -> str:
    head = f"Threads of {_scope(project)}, most recent activity first: {len(threads)}."
    if not threads:
        return head + " None yet."
    lines = [head, render.NOTICE, ""]
    lines += [render.thread_line(t, base_url) for t in threads]
    lines += _more("threads", cursor)
    return "\n".join(lines)


def _read_text(data: dict[str, Any]) -> str:
    thread, entries = data["thread"], data["entries"]
    title = thread.get("title") or thread.get("name") or ""
    lines = [
        f"Thread {thread['id']} {render.label(title)} ({thread.get('kind')}, project "
        f"{render.label(thread.get('project') or '')}, {thread.get('entry_count')} entries) "
        f"{thread['url']}",
        render.NOTICE,
    ]
    if not entries:
        lines.append("No entries here.")
    for e in entries:
        mark = "  ◀ the requested entry" if e["id"] == data.get("around") else ""
        lines.append("")
        lines.append(f"--- entry {e['id']} · seq {e['seq']} · {e['role']} · {e['ts']}{mark}")
        lines.append(render.quote(e["text"]))
    lines += _more("entries", data.get("next_cursor"))
    return "\n".join(lines)
