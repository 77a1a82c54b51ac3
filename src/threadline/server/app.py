"""The ASGI application: :func:`create_app` wires settings, database, routes and error shape.

``create_app`` opens (and migrates) the database right away, so the app answers even when the
ASGI lifespan is not run (``httpx.ASGITransport`` in tests); the engine it opened is disposed
at lifespan shutdown. Pass ``db`` to share an already open database instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.gzip import GZipMiddleware

from threadline import __version__
from threadline import protocol as p
from threadline.server import errors
from threadline.server.auth import LoginLimiter
from threadline.server.body import ProtocolMiddleware
from threadline.server.database import Database, open_database
from threadline.server.deps import BODY_MODELS, AppState
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
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


#: Operations that need no token; every other ``/api/v1`` operation needs a bearer token.
PUBLIC_PATHS = (f"{p.API_PREFIX}/capabilities", f"{p.API_PREFIX}/auth/login")


def _document_bearer_auth(schema: dict[str, Any]) -> None:
    schemes = schema["components"].setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer", "description": "A device token."}
    for path, operations in schema["paths"].items():
        if not path.startswith(p.API_PREFIX) or path in PUBLIC_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request bodies the routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in BODY_MODELS:
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    _document_bearer_auth(schema)
    app.openapi_schema = schema
    return schema
