"""The OpenAPI schema of the JSON API: FastAPI's, plus the bodies the routes parse themselves
and the bearer-token security of every route that needs it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from threadline import protocol as p
from threadline.server.deps import BODY_MODELS

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


def openapi_schema(app: FastAPI) -> dict[str, Any]:
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
