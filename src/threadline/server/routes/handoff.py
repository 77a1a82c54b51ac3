"""Hand-off over HTTP: a user's content-addressed blobs and their saves (see docs/protocol.md,
"Hand-off").

- ``PUT /api/v1/blobs/{sha256}`` stores the body (already decoded by the protocol middleware,
  which holds it to ``max_blob_bytes`` rather than ``max_batch_bytes``); ``201`` new, ``200``
  already there. ``HEAD`` says whether it is there; ``GET`` sends it, as stored (zstd) to a
  client that accepts ``zstd``, otherwise decompressed as it is sent.
- ``POST /api/v1/saves``, ``GET /api/v1/saves``, ``GET`` and ``DELETE /api/v1/saves/{id}``.

Hashing, compressing and parsing large bodies run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from threadline import protocol as p
from threadline.protocol.models import BlobStored, Save, SaveCreate, SavePage
from threadline.server.deps import Who, body_spec, json_response, parse_json
from threadline.services import blobs, handoff
from threadline.services.auth import Principal
from threadline.services.context import AppState, app_state

router = APIRouter(prefix=p.API_PREFIX, tags=["handoff"])

#: Where blob uploads are, for the protocol middleware's body limit.
BLOBS_PREFIX = f"{p.API_PREFIX}/blobs/"
SIZE_HEADER = "Threadline-Blob-Size"

Sha = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-f]{64}$",
        description="The SHA-256 of the blob's uncompressed bytes, 64 lowercase hex digits.",
    ),
]
SaveId = Annotated[uuid.UUID, Path(description="The save's id (a UUID).")]
Limit = Annotated[int, Query(ge=1, le=p.MAX_PAGE_SIZE)]
BLOB_CONTENT = {blobs.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
BLOB_BODY = {"requestBody": {"required": True, "content": BLOB_CONTENT}}


@router.put(
    "/blobs/{sha256}",
    status_code=201,
    response_model=BlobStored,
    openapi_extra=BLOB_BODY,
    responses={200: {"model": BlobStored, "description": "This blob was already stored."}},
)
async def put_blob(request: Request, sha256: Sha, who: Who) -> Response:
    body = await request.body()
    state = app_state(request)
    limit = state.handoff_limits.max_blob_bytes
    created = await run_in_threadpool(blobs.put_blob, state.db, who, sha256, body, limit)
    return json_response(BlobStored(sha256=sha256, size=len(body)), 201 if created else 200)


@router.head(
    "/blobs/{sha256}",
    response_class=Response,
    responses={200: {"description": f"The blob is stored; `{SIZE_HEADER}` is its size."}},
)
def has_blob(request: Request, sha256: Sha, who: Who) -> Response:
    size = blobs.blob_size(app_state(request).db, who, sha256)
    return Response(status_code=200, headers={SIZE_HEADER: str(size)})


@router.get(
    "/blobs/{sha256}",
    response_class=Response,
    responses={200: {"content": BLOB_CONTENT, "description": "The blob's bytes."}},
)
def get_blob(request: Request, sha256: Sha, who: Who) -> Response:
    blob = blobs.get_blob(app_state(request).db, who, sha256)
    headers = {SIZE_HEADER: str(blob.size), "ETag": f'"{blob.sha256}"', "Vary": "Accept-Encoding"}
    if accepts_zstd(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "zstd"
        return Response(blob.compressed, media_type=blobs.MEDIA_TYPE, headers=headers)
    headers["Content-Length"] = str(blob.size)
    return StreamingResponse(blob.chunks(), media_type=blobs.MEDIA_TYPE, headers=headers)


def accepts_zstd(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value lists ``zstd`` with a quality above 0."""
    for item in accept_encoding.lower().split(","):
        name, *params = item.split(";")
        if name.strip() != "zstd":
            continue
        for param in params:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


@router.post(
    "/saves",
    status_code=201,
    response_model=Save,
    openapi_extra=body_spec(SaveCreate),
    responses={200: {"model": Save, "description": "This save was already stored, the same."}},
)
async def create_save(request: Request, who: Who) -> Response:
    body = await request.body()
    save, created = await run_in_threadpool(_create, app_state(request), who, body)
    return json_response(save, 201 if created else 200)


def _create(state: AppState, who: Principal, body: bytes) -> tuple[Save, bool]:
    request = parse_json(SaveCreate, body)
    return handoff.create_save(state.db, who, request, state.handoff_limits)


@router.get("/saves", response_model=SavePage)
def list_saves(
    request: Request,
    who: Who,
    remote_key: Annotated[str | None, Query(description="Only this repository's.")] = None,
    thread_id: Annotated[str | None, Query(description="Only this session thread's.")] = None,
    session_id: Annotated[str | None, Query(description="Only this agent session's.")] = None,
    limit: Limit = p.DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Response:
    page = handoff.list_saves(
        app_state(request).db,
        who,
        remote_key=remote_key,
        thread_id=thread_id,
        session_id=session_id,
        limit=limit,
        cursor=cursor,
    )
    return json_response(page)


@router.get("/saves/{save_id}", response_model=Save)
def get_save(request: Request, save_id: SaveId, who: Who) -> Response:
    return json_response(handoff.get_save(app_state(request).db, who, str(save_id)))


@router.delete("/saves/{save_id}", status_code=204)
def delete_save(request: Request, save_id: SaveId, who: Who) -> Response:
    handoff.delete_save(app_state(request).db, who, str(save_id))
    return Response(status_code=204)
