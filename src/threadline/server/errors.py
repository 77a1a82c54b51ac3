"""The one JSON error shape, ``{"error": {"code", "message", "detail"}}``, for every error.

:func:`install` maps :class:`~threadline.errors.ApiError`, FastAPI's validation errors and
Starlette's HTTP errors (unknown route, wrong method) to it; :mod:`threadline.server.body`
renders the errors raised before routing and the unexpected ones (500) the same way.
"""

from __future__ import annotations

import errno
import html
import inspect
import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from threadline.errors import ApiError, BadRequest, Unavailable, ValidationFailed

log = logging.getLogger("threadline.server")

#: Seconds a client is asked to wait (``Retry-After``) after a ``503 unavailable``.
RETRY_AFTER_SECONDS = 5

#: SQLite result codes (by name, extended ones included) that say the file cannot be used now:
#: a full disk, an I/O error, a file that cannot be opened or written, a lock held past the
#: busy timeout and every retry of :meth:`~threadline.storage.database.Database.run_write`.
SQLITE_UNAVAILABLE = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_IOERR": "io_error",
    "SQLITE_CANTOPEN": "cannot_open",
    "SQLITE_READONLY": "read_only",
    "SQLITE_BUSY": "busy",
    "SQLITE_LOCKED": "busy",
    "SQLITE_NOMEM": "out_of_memory",
}
#: PostgreSQL SQLSTATE prefixes that say the server cannot serve now: 08 connection exception,
#: 53 insufficient resources (disk full, out of memory, too many connections), 57014 a
#: statement cancelled past its time limit (a search over much of a busy database), 57P0x
#: shut down or starting up, 58 system error (I/O).
PG_UNAVAILABLE = {
    "08": "connection",
    "53": "insufficient_resources",
    "57014": "timed_out",
    "57P01": "shutting_down",
    "57P02": "shutting_down",
    "57P03": "starting_up",
    "58": "io_error",
}
#: ``OSError`` numbers that say the server's disk cannot be written now.
OS_UNAVAILABLE = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EIO: "io_error",
}
_MESSAGES = {
    "disk_full": "the database cannot write: its disk is full",
    "connection": "the database does not answer",
    "timed_out": "the database took too long to answer",
}
_HINTS = {
    "timed_out": "Try again in {seconds} seconds; a narrower search (a project, a filter, "
    "another word) reads less. Nothing was stored.",
}

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


def is_api_path(path: str) -> bool:
    """Whether ``path`` is answered in JSON (the API) rather than as a web page."""
    return path.startswith("/api/") or path in ("/healthz", "/openapi.json", "/docs")


def error_page(exc: ApiError) -> bytes:
    """A short, self-contained HTML page for an error the web's own pages cannot render (the
    address is refused before routing, or the database they need is away)."""
    title = html.escape(HTTPStatus(exc.status).phrase)
    text = html.escape(f"{exc.message}. {exc.hint}".strip())
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><p>{text}</p></body></html>\n"
    ).encode()


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


def unavailable(exc: BaseException) -> Unavailable | None:
    """``exc`` as ``503 unavailable`` if it says the database cannot answer or write now;
    ``None`` if it is anything else (a bug: ``500``). Never quotes the driver's message, which
    may name hosts or users."""
    reason = _outage_reason(exc)
    if reason is None:
        return None
    message = _MESSAGES.get(reason, f"the database is unavailable ({reason.replace('_', ' ')})")
    return Unavailable(
        message,
        detail={"reason": reason, "retry_after": RETRY_AFTER_SECONDS},
        hint=_HINTS.get(reason, "Nothing was stored; try again in {seconds} seconds.").format(
            seconds=RETRY_AFTER_SECONDS
        ),
    )


def _outage_reason(exc: BaseException) -> str | None:
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return "connection"
        return _driver_reason(exc.orig)
    if isinstance(exc, sa.exc.DisconnectionError):
        return "connection"
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection came free in time
        return "busy"
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return OS_UNAVAILABLE.get(exc.errno or 0)
    return _driver_reason(exc)


def _driver_reason(orig: BaseException | None) -> str | None:
    """The reason from a DBAPI exception of sqlite3 or psycopg, by error name or SQLSTATE."""
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        for prefix, reason in SQLITE_UNAVAILABLE.items():
            if name == prefix or name.startswith(prefix + "_"):
                return reason
        return None
    if type(orig).__module__.split(".")[0] != "psycopg":
        return None
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:  # no answer from the server: refused, reset, closed, timed out
        import psycopg

        is_link = isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
        return "connection" if is_link else None
    for prefix, reason in PG_UNAVAILABLE.items():
        if sqlstate.startswith(prefix):
            return reason
    return None


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_request_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _on_pydantic)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.SQLAlchemyError, _on_outage)
    app.add_exception_handler(OSError, _on_outage)


async def _on_api_error(_request: Request, exc: ApiError) -> Response:
    return api_error_response(exc)


async def _on_outage(request: Request, exc: Exception) -> Response:
    """``503`` through the app's own :class:`ApiError` handler (JSON for the API, the web's
    page for the web); anything that is not an outage goes on to the catch-all (``500``)."""
    outage = unavailable(exc)
    if outage is None:
        raise exc
    log.warning("%s on %s %s: %r", outage.message, request.method, request.url.path, exc)
    handler = request.app.exception_handlers.get(ApiError, _on_api_error)
    try:
        response = handler(request, outage)
        if inspect.isawaitable(response):
            response = await response
    except Exception:  # a web error page that needs the database itself
        response = None
    if isinstance(response, Response):
        return response
    if is_api_path(request.url.path):
        return api_error_response(outage)
    return HTMLResponse(error_page(outage), status_code=outage.status)


async def _on_request_validation(_request: Request, exc: RequestValidationError) -> Response:
    return api_error_response(from_pydantic(exc.errors()))


async def _on_pydantic(_request: Request, exc: ValidationError) -> Response:
    return api_error_response(from_pydantic(exc.errors(include_url=False), ("body",)))


async def _on_http(_request: Request, exc: HTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    body = payload(code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
