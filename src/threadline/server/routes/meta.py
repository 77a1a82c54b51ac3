"""``/healthz`` and ``/api/v1/capabilities``: what a client or a load balancer checks first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from threadline import __version__
from threadline import protocol as p
from threadline.protocol.models import Capabilities, Limits
from threadline.server.deps import settings as app_settings
from threadline.services import status
from threadline.services.context import app_state

router = APIRouter()

FEATURES = [
    "push",
    "status",
    "threads",
    "entries",
    "tombstones",
    "change-cursor",
    "transcripts",
    "transcript-parts",
    "handoff",
    "scopes",
]


@router.get("/healthz", tags=["meta"])
def healthz(request: Request) -> dict[str, Any]:
    dialect = status.database_health(app_state(request).db)
    return {"status": "ok", "database": dialect}


@router.get(f"{p.API_PREFIX}/capabilities", response_model=Capabilities, tags=["meta"])
def capabilities(request: Request) -> Capabilities:
    settings = app_settings(request)
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
            max_blob_bytes=settings.max_blob_bytes,
            max_save_files=settings.max_save_files,
            max_save_message_chars=settings.max_save_message_chars,
        ),
    )
