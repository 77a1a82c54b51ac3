"""What routes share: the settings, the caller's identity, and JSON bodies parsed fast.

The application state (database, limiters) is :class:`threadline.services.context.AppState`,
shared with the web UI; the server settings are the API's own (:func:`settings`).

Bodies are parsed with pydantic's ``model_validate_json`` (one pass from bytes, whatever the
``Content-Type``, so ``curl -d`` works) and documented in the OpenAPI schema through
:func:`body_spec`. Answers are serialized once with :func:`json_response`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from threadline.server.errors import from_pydantic
from threadline.server.settings import ServerSettings
from threadline.services.auth import Principal, authenticate
from threadline.services.context import app_state

M = TypeVar("M", bound=BaseModel)

#: Request models documented by :func:`body_spec`; :mod:`app` adds them to the schema.
BODY_MODELS: list[type[BaseModel]] = []


def settings(request: Request) -> ServerSettings:
    """The settings the application was created with."""
    found: ServerSettings = request.app.state.settings
    return found


def current_principal(request: Request) -> Principal:
    """The bearer token's principal; ``401`` otherwise. Sync: FastAPI runs it in a thread."""
    return authenticate(app_state(request).db, request.headers.get("authorization"))


#: A route parameter that authenticates the caller.
Who = Annotated[Principal, Depends(current_principal)]


def parse_json(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise from_pydantic(exc.errors(include_url=False), ("body",)) from None


async def read_json(request: Request, model: type[M]) -> M:
    return parse_json(model, await request.body())


def body_spec(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body of ``model``."""
    if model not in BODY_MODELS:
        BODY_MODELS.append(model)
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
