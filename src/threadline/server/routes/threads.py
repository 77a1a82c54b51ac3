"""Threads and their entries over plain HTTP (the web UI, scripts and ``curl``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from threadline import protocol as p
from threadline.protocol.models import (
    Entry,
    EntryCreate,
    EntryPage,
    Kind,
    Thread,
    ThreadCreate,
    ThreadDetail,
    ThreadPage,
    ThreadPatch,
    TranscriptDigest,
)
from threadline.server.deps import Who, body_spec, json_response, read_json
from threadline.services import entries, threads, transcripts
from threadline.services.context import app_state
from threadline.services.inputs import MAX_INT

router = APIRouter(prefix=f"{p.API_PREFIX}/threads", tags=["threads"])

Limit = Annotated[int, Query(ge=1, le=p.MAX_PAGE_SIZE)]
ParentId = Annotated[str | None, Query(description="Only the children of this thread.")]
TopLevel = Annotated[
    bool | None,
    Query(description="true: only threads without a parent_key; false: only those with one."),
]
ScopeQuery = Annotated[
    str | None,
    Query(description="Only the thread(s) of this scope, TYPE:ID (e.g. pr:123)."),
]
ScopeTypeQuery = Annotated[
    str | None, Query(description="Only threads whose scope has this type (e.g. pr).")
]
Generation = Annotated[
    int | None,
    Query(ge=1, le=MAX_INT, description="Which generation; the highest one by default."),
]
StreamId = Annotated[
    UUID | None,
    Query(description="Which stream of the thread; by default chosen as for generation."),
]
FromLine = Annotated[
    int,
    Query(ge=0, le=MAX_INT, description="Send only the lines after the first from_line."),
]
ToLine = Annotated[
    int | None,
    Query(ge=0, le=MAX_INT, description="Send no line after line to_line; the end by default."),
]


def transcript_part(
    generation: Generation = None,
    stream: StreamId = None,
    from_line: FromLine = 0,
    to_line: ToLine = None,
) -> transcripts.Part:
    """The query parameters of a transcript and of its digest, declared once for both."""
    stream_id = str(stream) if stream is not None else None
    return transcripts.Part(generation, stream_id, from_line, to_line)


Part = Annotated[transcripts.Part, Depends(transcript_part)]

Around = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Without a cursor: start the page `before` entries ahead of this entry "
        "(an entry id of the thread; 404 if it has none).",
    ),
]
Before = Annotated[
    int, Query(ge=0, le=p.MAX_PAGE_SIZE, description="With `around`: entries shown ahead of it.")
]


@router.get("", response_model=ThreadPage)
def list_threads(
    request: Request,
    who: Who,
    project: str | None = None,
    kind: Kind | None = None,
    q: str | None = None,
    parent_id: ParentId = None,
    top_level: TopLevel = None,
    limit: Limit = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    scope: ScopeQuery = None,
    scope_type: ScopeTypeQuery = None,
) -> Response:
    page = threads.list_threads(
        app_state(request).db,
        who,
        project=project,
        kind=kind,
        q=q,
        parent_id=parent_id,
        top_level=top_level,
        limit=limit,
        cursor=cursor,
        scope=None if scope is None else threads.parse_scope(scope, "scope"),
        scope_type=None if scope_type is None else threads.parse_scope_type(scope_type),
    )
    return json_response(page)


@router.post(
    "",
    status_code=201,
    response_model=Thread,
    openapi_extra=body_spec(ThreadCreate),
    responses={200: {"model": Thread, "description": "The scope already had a live thread."}},
)
async def create_thread(request: Request, who: Who) -> Response:
    body = await read_json(request, ThreadCreate)
    db = app_state(request).db
    thread, created = await run_in_threadpool(threads.create_or_get, db, who, body)
    return json_response(thread, 201 if created else 200)


@router.get("/{thread_id}", response_model=ThreadDetail)
def get_thread(request: Request, thread_id: str, who: Who) -> Response:
    return json_response(threads.get_thread(app_state(request).db, who, thread_id))


@router.patch("/{thread_id}", response_model=Thread, openapi_extra=body_spec(ThreadPatch))
async def patch_thread(request: Request, thread_id: str, who: Who) -> Response:
    body = await read_json(request, ThreadPatch)
    db = app_state(request).db
    return json_response(await run_in_threadpool(threads.patch_thread, db, who, thread_id, body))


@router.delete("/{thread_id}", status_code=204)
def delete_thread(request: Request, thread_id: str, who: Who) -> Response:
    threads.delete_thread(app_state(request).db, who, thread_id)
    return Response(status_code=204)


@router.get("/{thread_id}/entries", response_model=EntryPage)
def list_entries(
    request: Request,
    thread_id: str,
    who: Who,
    limit: Limit = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    raw: bool = False,
    around: Around = None,
    before: Before = 0,
) -> Response:
    page = entries.list_entries(
        app_state(request).db,
        who,
        thread_id,
        limit=limit,
        cursor=cursor,
        raw=raw,
        around=around,
        before=before,
    )
    return json_response(page)


@router.post(
    "/{thread_id}/entries",
    status_code=201,
    response_model=Entry,
    openapi_extra=body_spec(EntryCreate),
    responses={200: {"model": Entry, "description": "This entry id was already stored."}},
)
async def post_entry(request: Request, thread_id: str, who: Who) -> Response:
    body = await read_json(request, EntryCreate)
    state = app_state(request)
    limit = state.push_limits.max_entry_bytes
    entry, created = await run_in_threadpool(
        entries.post_entry, state.db, who, thread_id, body, limit
    )
    return json_response(entry, 201 if created else 200)


@router.get(
    "/{thread_id}/transcript",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {transcripts.MEDIA_TYPE: {}},
            "description": "The captured transcript file (or the lines asked for), byte for "
            "byte; Threadline-Lines-Total says how many lines the whole file has.",
        }
    },
)
def get_transcript(request: Request, thread_id: str, who: Who, part: Part) -> Response:
    found = transcripts.download(app_state(request).db, who, thread_id, part)
    return StreamingResponse(found.body, media_type=found.media_type, headers=found.headers)


@router.get("/{thread_id}/transcript/digest", response_model=TranscriptDigest)
def get_transcript_digest(request: Request, thread_id: str, who: Who, part: Part) -> Response:
    return json_response(transcripts.digest(app_state(request).db, who, thread_id, part))
