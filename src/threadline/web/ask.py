"""The Ask page: a question answered from the signed-in user's history, with citations.

- ``GET /ask`` — the page: a question box, a project selector ("All projects" or one of the
  user's), and the answer. ``?thread=`` continues that conversation (its project selected,
  unless ``?project=`` says otherwise), its last :data:`SHOWN_TURNS` questions and answers
  shown above the form; an id that is not one of the user's conversations is ignored.
- ``POST /ask/stream`` (``csrf``, ``question``, ``project``, ``thread``) — the answer as
  ``text/event-stream``, exactly as ``POST /api/v1/ask`` streams it: ``delta`` events
  (``{"text"}``) as it is written, then ``done`` with the answer's JSON (citations, the
  conversation's ``thread_id``). A failure is one ``error`` event in the JSON error shape.
  The page's script (``ask.js``) reads it with ``fetch`` and writes the text into the page as
  text (never as HTML); citations become links to their entries, and so do the answer's
  markers of them (``[1]``). The answer before it moves up among the earlier turns.
- ``POST /ask`` (same fields) — the same answer rendered into the page, for a browser without
  JavaScript.

Everything goes through :func:`threadline.services.ask.ask` with the user's identity: the
same access checks, limits and storing as the API.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.types import Receive, Scope, Send

from threadline import protocol as p
from threadline.errors import ApiError
from threadline.services import ask as ask_service
from threadline.services import changes
from threadline.services.ask import Answered, Delta, Done, Question
from threadline.services.context import app_state
from threadline.web import sessions
from threadline.web.sessions import User, WebUser
from threadline.web.templating import render, secure_headers

router = APIRouter(include_in_schema=False)

#: Earlier turns of a conversation shown above the form (its newest).
SHOWN_TURNS = 10
#: A citation marker of an answer: ``[n]`` or ``[n, m]``, not right after a letter or digit
#: (as :mod:`threadline.recall.citations` reads them).
_MARKER = re.compile(r"(?<![\w])\[\s*\d{1,4}(?:\s*,\s*\d{1,4})*\s*\]")
_NUMBER = re.compile(r"(\d+)")
#: A path of this site (not ``//host`` nor ``/\host``, which browsers read as another host).
_SITE_PATH = re.compile(r"/(?![/\\])")

#: A piece of an answer's text, with the URL it links to (``None``: plain text).
Piece = tuple[str, str | None]


def linked(text: str, urls: Mapping[int, str]) -> list[Piece]:
    """``text`` cut into plain pieces and its citation markers, each marker of a citation in
    ``urls`` (by number) linking to it: ``[1]`` whole, in ``[1, 2]`` each number. A marker of
    an unknown number stays text."""
    out: list[Piece] = []
    position = 0
    for match in _MARKER.finditer(text):
        out.append((text[position : match.start()], None))
        inner = _NUMBER.split(match.group(0))
        if len(inner) == 3:
            out.append((match.group(0), urls.get(int(inner[1]))))
        else:
            out += [
                (piece, urls.get(int(piece)) if i % 2 else None) for i, piece in enumerate(inner)
            ]
        position = match.end()
    out.append((text[position:], None))
    return [piece for piece in out if piece[0]]


def site_path(url: str) -> str:
    """``url`` if it is a path of this site, else ``#``."""
    return url if _SITE_PATH.match(url) else "#"


@dataclass(frozen=True)
class Cited:
    """A stored answer's citation as the page lists it."""

    n: int
    url: str
    thread_title: str
    role: str
    ts: str
    snippet: str


def _cited(value: Any) -> Cited | None:
    """A citation as the answer's ``meta`` holds it (``None``: not one)."""
    if not isinstance(value, dict) or not isinstance(value.get("n"), int):
        return None
    text = {k: str(value.get(k) or "") for k in ("url", "thread_title", "thread_id", "role", "ts")}
    return Cited(
        n=value["n"],
        url=site_path(text["url"]),
        thread_title=text["thread_title"] or text["thread_id"],
        role=text["role"],
        ts=text["ts"],
        snippet=str(value.get("snippet") or ""),
    )


@dataclass(frozen=True)
class Turn:
    """An earlier question of a conversation and its answer (``None``: none was stored, the
    model could not be reached)."""

    question_id: str
    question: str
    answer: list[Piece] | None = None
    no_match: bool = False
    citations: list[Cited] = field(default_factory=list)


def _turns(
    request: Request, user: WebUser, thread_id: str, leave_out: str
) -> tuple[list[Turn], bool]:
    """The last :data:`SHOWN_TURNS` questions (oldest first) of the user's conversation
    ``thread_id`` with their answers, without the question ``leave_out`` (the one just
    answered), and whether it holds earlier ones; none for a thread that is not theirs.

    The turns are the thread's questions and answers that ask wrote (``meta.ask``); the
    answer's ``meta.ask.citations`` are its citations."""
    if not thread_id:
        return [], False
    limit = 2 * (SHOWN_TURNS + 2)  # a question and its answer each, one more and leave_out
    said = ask_service.conversation(app_state(request).db, user.principal, thread_id, limit)
    turns: list[Turn] = []
    for one in said or []:
        if one.role == "user":
            turns.append(Turn(one.entry_id, one.text))
        elif turns and turns[-1].answer is None:
            listed = one.ask.get("citations")
            found = [_cited(c) for c in listed] if isinstance(listed, list) else []
            cited = [c for c in found if c is not None]
            urls = {c.n: c.url for c in cited if c.url != "#"}
            answer = linked(one.text, urls)
            no_match = one.ask.get("no_match") is True
            turns[-1] = replace(turns[-1], answer=answer, no_match=no_match, citations=cited)
    turns = [turn for turn in turns if turn.question_id != leave_out]
    return turns[-SHOWN_TURNS:], len(turns) > SHOWN_TURNS


def _projects(request: Request, user: WebUser) -> list[str]:
    db = app_state(request).db
    counts = changes.project_counts(db, user.user_id, changes.read_cursor(db, user.user_id))
    return [name for name, _, _ in counts if name]


def _page(
    request: Request,
    user: WebUser,
    fields: dict[str, str],
    status: int = 200,
    **context: Any,
) -> Response:
    """The page with the form's ``fields`` (question, project, thread) filled in, and the
    conversation's earlier turns."""
    answered: Answered | None = context.setdefault("answered", None)
    context.setdefault("error", None)
    for name in ("question", "project", "thread"):
        context[name] = fields.get(name, "")
    urls = {c.n: c.url for c in answered.citations} if answered else {}
    context["pieces"] = linked(answered.answer, urls) if answered else []
    leave_out = answered.question_entry_id if answered else ""
    context["turns"], context["more_turns"] = _turns(request, user, context["thread"], leave_out)
    return render(
        request, "ask.html", status=status, projects=_projects(request, user),
        max_question=p.MAX_QUESTION_CHARS, **context,
    )  # fmt: skip


@router.get("/ask")
def ask_page(request: Request, user: User, thread: str = "", project: str = "") -> Response:
    thread = thread[: p.MAX_KEY_CHARS]
    # A conversation opened to continue it: its project is selected (unless one is given), so
    # a follow-up searches what the conversation searched. Any other id is ignored.
    db = app_state(request).db
    place = ask_service.conversation_place(db, user.principal, thread) if thread else None
    if place is None:
        thread = ""
    elif not project and not place.all_projects:
        project = place.project or ""
    return _page(request, user, {"thread": thread, "project": project})


def _question(form: dict[str, str]) -> Question:
    project = form.get("project", "")
    return Question(
        text=form.get("question", ""),
        project=project or None,
        all_projects=not project,
        thread_id=form.get("thread") or None,
    )


@router.post("/ask")
async def ask_form(request: Request, user: User) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    shown = {k: form.get(k, "") for k in ("question", "project", "thread")}
    db, model = app_state(request).db, app_state(request).model
    try:
        answered: Answered = await run_in_threadpool(
            ask_service.answer, db, user.principal, _question(form), model
        )
    except ApiError as exc:
        return _page(request, user, shown, exc.status, error=exc.message)
    shown["thread"] = answered.thread_id
    return _page(request, user, shown, answered=answered)


@router.post("/ask/stream")
async def ask_stream(request: Request, user: User) -> Response:
    form = await sessions.read_form(request)
    sessions.check_csrf(request, user, form)
    state = app_state(request)
    events = ask_service.ask(state.db, user.principal, _question(form), state.model)
    response = AnswerStream(events, headers={"X-Accel-Buffering": "no"})
    secure_headers(response)
    return response


class AnswerStream(StreamingResponse):
    """An answer as ``text/event-stream`` (``first``, if already read, then the rest of
    ``events``, read in a worker thread; a failure on the way is an ``error`` event) — the
    API's stream and this page's alike.

    However the response ends, finished or with its reader gone mid-answer, the answer's
    generator is closed then: a model still writing loses its connection at once (it stops
    writing, and a paid one stops counting), instead of whenever the garbage collector gets
    to it; nothing is stored."""

    def __init__(
        self,
        events: Iterator[Delta | Done],
        first: Delta | Done | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._events = events
        self._body = _stream(events, first)
        super().__init__(self._body, media_type="text/event-stream", headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
            close = getattr(self._events, "close", None)
            # (ValueError: still running in its thread, which ends it with its next piece)
            if close is not None:
                with suppress(ValueError):
                    close()


async def _stream(
    events: Iterator[Delta | Done], first: Delta | Done | None
) -> AsyncGenerator[bytes]:
    try:
        if first is not None:
            yield ask_service.event_bytes(first)
        async for event in iterate_in_threadpool(events):
            yield ask_service.event_bytes(event)
    except ApiError as exc:
        yield ask_service.error_bytes(exc)
