"""The one JSON error shape, ``{"error": {"code", "message", "detail"}}``, for every error.

:func:`install` maps :class:`~threadline.errors.ApiError`, FastAPI's validation errors and
Starlette's HTTP errors (unknown route, wrong method) to it; :mod:`threadline.server.body`
renders the errors raised before routing and the unexpected ones (500) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from threadline.errors import ApiError, BadRequest, ValidationFailed

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "batch_too_large",
    415: "unsupported_encoding",
    429: "too_many_requests",
}


def payload(code: str, message: str, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": dict(detail or {})}}


def api_error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(payload(exc.code, exc.message, exc.detail), status_code=exc.status)


def from_pydantic(errors: Iterable[Mapping[str, Any]], prefix: tuple[str, ...] = ()) -> ApiError:
    """A body that is not JSON is ``400 invalid_json``; any other problem ``422``."""
    errors = list(errors)
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", error.get("msg", ""))
            return BadRequest(
                f"the body is not valid JSON: {reason}",
                code="invalid_json",
                hint="Send a UTF-8 JSON object.",
            )
    items = [
        {"loc": [*prefix, *error.get("loc", ())], "msg": error.get("msg", "")} for error in errors
    ]
    first = items[0] if items else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return ValidationFailed(f"{where}: {first['msg']}", detail={"errors": items})


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _on_pydantic)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]


async def _on_api_error(_request: Request, exc: ApiError) -> Response:
    return api_error_response(exc)


async def _on_request_validation(_request: Request, exc: RequestValidationError) -> Response:
    return api_error_response(from_pydantic(exc.errors()))


async def _on_pydantic(_request: Request, exc: ValidationError) -> Response:
    return api_error_response(from_pydantic(exc.errors(include_url=False), ("body",)))


async def _on_http(_request: Request, exc: HTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body = payload(code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
