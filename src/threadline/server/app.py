"""The ASGI application: :func:`create_app` wires settings, database, routes and error shape.

``create_app`` opens (and migrates) the database right away, so the app answers even when the
ASGI lifespan is not run (``httpx.ASGITransport`` in tests); the engine it opened is disposed
at lifespan shutdown. Pass ``db`` to share an already open database instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from threadline import __version__
from threadline.server import errors
from threadline.server.auth import LoginLimiter
from threadline.server.body import ProtocolMiddleware
from threadline.server.database import Database, open_database
from threadline.server.deps import AppState
from threadline.server.openapi import openapi_schema
from threadline.server.push import PushLimits
from threadline.server.routes import ROUTERS
from threadline.server.settings import ServerSettings, settings_from_env

DESCRIPTION = "Threadline sync protocol v1; see docs/protocol.md for the rules behind each route."


def create_app(settings: ServerSettings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or settings_from_env()
    owned = db is None
    database = db or open_database(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            database.dispose()

    app = FastAPI(
        title="Threadline", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.threadline = AppState(
        settings=settings,
        db=database,
        limiter=LoginLimiter(),
        push_limits=PushLimits(settings.max_entry_bytes, settings.max_batch_entries),
    )
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    from threadline.web.routes import install as install_web

    install_web(app)
    # Answers over 1 KiB are gzipped for clients that accept it (browsers, httpx); event
    # streams are not (Starlette leaves text/event-stream alone).
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(ProtocolMiddleware, max_batch_bytes=settings.max_batch_bytes)
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    return app
