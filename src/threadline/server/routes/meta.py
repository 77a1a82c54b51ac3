"""``/healthz`` and ``/api/v1/capabilities``: what a client or a load balancer checks first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from threadline import __version__
from threadline import protocol as p
from threadline.errors import Unavailable
from threadline.protocol.models import Capabilities, Limits
from threadline.server.deps import app_state

router = APIRouter()

FEATURES = [
    "push",
    "status",
    "threads",
    "entries",
    "tombstones",
    "change-cursor",
    "transcripts",
]


@router.get("/healthz", tags=["meta"])
def healthz(request: Request) -> dict[str, Any]:
    db = app_state(request).db
    try:
        db.ping()
    except sa.exc.SQLAlchemyError:
        raise Unavailable("the database does not answer") from None
    return {"status": "ok", "database": db.dialect}


@router.get(f"{p.API_PREFIX}/capabilities", response_model=Capabilities, tags=["meta"])
def capabilities(request: Request) -> Capabilities:
    settings = app_state(request).settings
    return Capabilities(
        protocol=p.PROTOCOL_VERSION,
        server_version=__version__,
        features=FEATURES,
        encodings=list(p.ENCODINGS),
        limits=Limits(
            max_entry_bytes=settings.max_entry_bytes,
            max_batch_bytes=settings.max_batch_bytes,
            max_batch_entries=settings.max_batch_entries,
            max_page_size=p.MAX_PAGE_SIZE,
        ),
    )
