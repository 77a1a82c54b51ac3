"""``POST /api/v1/ask``: a question answered from the caller's history, with citations.

The answer is JSON (:class:`~threadline.protocol.models.AskAnswer`), or — with ``Accept:
text/event-stream`` — a stream of ``delta`` events (``{"text": …}``, pieces of the answer as
they are written) ending with one ``done`` event holding the same JSON. Everything that can
fail before the first piece (a bad body, an unknown thread, a model that cannot be reached)
answers in the one JSON error shape with its status; a failure after it is an ``error`` event
holding that shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from threadline import protocol as p
from threadline.protocol.models import AskAnswer, AskRequest
from threadline.server.deps import Who, body_spec, read_json
from threadline.services import ask as ask_service
from threadline.services.ask import About, Delta, Done, Question
from threadline.services.context import app_state
from threadline.web.ask import AnswerStream

router = APIRouter(prefix=p.API_PREFIX, tags=["ask"])

EVENT_STREAM = "text/event-stream"
#: Headers of a streamed answer: never cached, never buffered by a proxy.
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def question_of(body: AskRequest) -> Question:
    """The service's question from the wire body."""
    about = About(body.about.path, body.about.content) if body.about else None
    return Question(
        text=body.question,
        project=body.project,
        all_projects=body.all_projects,
        thread_id=body.thread,
        scope=body.scope,
        about=about,
    )


@router.post(
    "/ask",
    response_model=AskAnswer,
    openapi_extra=body_spec(AskRequest),
    responses={200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}}},
)
async def ask(request: Request, who: Who) -> Response:
    body = await read_json(request, AskRequest)
    state = app_state(request)
    events = ask_service.ask(state.db, who, question_of(body), state.model)
    if EVENT_STREAM in request.headers.get("accept", ""):
        first = await run_in_threadpool(next, events)
        return AnswerStream(events, first, headers=STREAM_HEADERS)
    answered = await run_in_threadpool(_last, events)
    return Response(json.dumps(answered), media_type="application/json")


def _last(events: Iterator[Delta | Done]) -> dict[str, object]:
    for event in events:
        if isinstance(event, Done):
            return event.answered.as_json()
    raise AssertionError("ask ends with Done")
