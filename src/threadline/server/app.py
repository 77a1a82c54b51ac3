"""The ASGI application, assembled in this one place: :func:`create_app`.

It wires the settings, the database and the shared :class:`~threadline.services.context.AppState`,
then mounts, explicitly and in order, the JSON API's routers (:data:`API_ROUTERS`) and the web
UI's (:data:`WEB_ROUTERS`), the web's static files, and the error rendering: JSON for the API,
an HTML page for the web. No module registers a route by being imported.

``create_app`` opens (and migrates) the database right away, so the app answers even when the
ASGI lifespan is not run (``httpx.ASGITransport`` in tests); the engine it opened is disposed
at lifespan shutdown. Pass ``db`` to share an already open database instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from threadline import __version__
from threadline import protocol as p
from threadline.errors import ApiError, NotSignedIn
from threadline.server import errors
from threadline.server.body import BodyLimit, ProtocolMiddleware
from threadline.server.openapi import openapi_schema
from threadline.server.routes import ask as ask_routes
from threadline.server.routes import auth, handoff, meta, sync, threads
from threadline.server.routes import search as search_api
from threadline.server.settings import ServerSettings, check_llm, settings_from_env
from threadline.services.ask import language_model
from threadline.services.auth import LoginLimiter
from threadline.services.context import AppState
from threadline.services.handoff import HandoffLimits
from threadline.services.push import PushLimits
from threadline.storage.database import Database, open_database
from threadline.web import account, list_page, live, saves_page, signin, thread_page
from threadline.web import ask as ask_page
from threadline.web import search as search_page
from threadline.web.templating import STATIC

DESCRIPTION = "Threadline sync protocol v1; see docs/protocol.md for the rules behind each route."

#: The JSON API (``/healthz`` and ``/api/v1/…``), in the OpenAPI schema.
API_ROUTERS: list[APIRouter] = [
    meta.router,
    auth.router,
    sync.router,
    threads.router,
    handoff.router,
    search_api.router,
    ask_routes.router,
]
#: The web UI's pages, in matching order: ``/threads/rows`` (``list_page``) comes before the
#: pattern ``/threads/{thread_id}`` (``thread_page``).
WEB_ROUTERS: list[APIRouter] = [
    signin.router,
    list_page.router,
    thread_page.router,
    live.router,
    account.router,
    saves_page.router,
    search_page.router,
    ask_page.router,
]


def create_app(settings: ServerSettings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = check_llm(settings or settings_from_env())
    owned = db is None
    database = db or open_database(settings.resolved_database_url())
    if owned:
        database.keep_statistics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            database.dispose()

    app = FastAPI(
        title="Threadline", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.threadline = AppState(
        db=database,
        limiter=LoginLimiter(),
        push_limits=PushLimits(settings.max_entry_bytes, settings.max_batch_entries),
        handoff_limits=HandoffLimits(
            settings.max_blob_bytes, settings.max_save_files, settings.max_save_message_chars
        ),
        model=language_model(
            settings.llm_provider,
            settings.llm_base_url,
            settings.llm_model,
            settings.llm_api_key_env,
            timeout=settings.llm_timeout,
            connect_timeout=settings.llm_connect_timeout,
        ),
    )
    errors.install(app)
    for router in (*API_ROUTERS, *WEB_ROUTERS):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(NotSignedIn, signin.on_not_signed_in)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_error)  # type: ignore[arg-type]
    # Answers over 1 KiB are gzipped for clients that accept it (browsers, httpx); event
    # streams are not (Starlette leaves text/event-stream alone).
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    # A blob upload is held to its own limit, not to max_batch_bytes.
    blob_limit = BodyLimit(
        "PUT", handoff.BLOBS_PREFIX, settings.max_blob_bytes, p.CODE_BLOB_TOO_LARGE
    )
    app.add_middleware(
        ProtocolMiddleware, max_batch_bytes=settings.max_batch_bytes, body_limits=[blob_limit]
    )
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/healthz", "/openapi.json", "/docs")


async def _on_error(request: Request, exc: ApiError) -> Response:
    """JSON for the API, an HTML page for the web UI."""
    if is_api(request):
        return errors.api_error_response(exc)
    return signin.error_page(request, exc)
