"""The OpenAPI schema of the JSON API: FastAPI's, plus the bodies the routes parse themselves,
the bearer-token security of every route that needs it, and the error answers each operation
gives, all in the one error shape ``ErrorBody`` (``{"error": {"code", "message", "detail"}}``):

- ``400`` everywhere (a bad ``Threadline-Protocol`` header, a NUL in the address; bad JSON,
  a bad compressed body or a bad cursor where those apply);
- ``401`` for every operation that needs a bearer token, and for a login with wrong
  credentials;
- ``404`` where a thread is named (``{thread_id}``, ``parent_id``) and for a push whose user
  is gone;
- ``409`` where an entry or a thread is created (``seq_gap``, ``entry_conflict``,
  ``thread_exists``, ``not_an_ask_thread``);
- ``413`` and ``415`` for every method that carries a body (size limits, ``Content-Encoding``);
- ``422`` for every operation with parameters or a body, in the error shape rather than
  FastAPI's own;
- ``429`` for the login;
- ``502`` where the configured language model is asked (``POST /ask``), and ``503`` there
  also when it cannot be reached;
- ``503`` for every operation that reads or writes the database.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from threadline import protocol as p
from threadline.protocol.models import ErrorBody
from threadline.server.deps import BODY_MODELS

#: Operations that need no token; every other ``/api/v1`` operation needs a bearer token.
PUBLIC_PATHS = (f"{p.API_PREFIX}/capabilities", f"{p.API_PREFIX}/auth/login")
LOGIN_PATH = f"{p.API_PREFIX}/auth/login"
#: Operations that never touch the database (so never answer 503).
NO_DATABASE_PATHS = (f"{p.API_PREFIX}/capabilities",)
#: Operations that can answer 409 besides those above: they create entries or threads.
CONFLICT_OPERATIONS = {
    ("post", f"{p.API_PREFIX}/sync/push"),
    ("post", f"{p.API_PREFIX}/threads"),
    ("post", f"{p.API_PREFIX}/threads/{{thread_id}}/entries"),
    ("post", f"{p.API_PREFIX}/ask"),
}
#: Operations that answer 404 without a ``{thread_id}`` in their path.
NOT_FOUND_OPERATIONS = {("get", f"{p.API_PREFIX}/threads"), ("post", f"{p.API_PREFIX}/sync/push")}
#: Hand-off: a save or a blob that is not the caller's is 404; a save sent again with other
#: content is 409.
NOT_FOUND_OPERATIONS |= {
    ("head", f"{p.API_PREFIX}/blobs/{{sha256}}"),
    ("get", f"{p.API_PREFIX}/blobs/{{sha256}}"),
    ("get", f"{p.API_PREFIX}/saves/{{save_id}}"),
    ("delete", f"{p.API_PREFIX}/saves/{{save_id}}"),
}
CONFLICT_OPERATIONS.add(("post", f"{p.API_PREFIX}/saves"))
NOT_FOUND_OPERATIONS.add(("post", f"{p.API_PREFIX}/ask"))
#: Operations that ask the configured language model (``502 model_failed``).
MODEL_OPERATIONS = {("post", f"{p.API_PREFIX}/ask")}
BODY_METHODS = {"post", "put", "patch", "delete"}

ERROR_DESCRIPTIONS = {
    400: "Bad request: a `Threadline-Protocol` header that is not an integer ≥ 1, a NUL in the "
    "address, a body that is not JSON or does not decompress, a cursor the server did not give.",
    401: "No token, an unknown or revoked token, or wrong credentials.",
    404: "No such thread, save or blob, or one of another user.",
    409: "`seq_gap`, `entry_conflict`, `thread_exists` or `save_conflict`.",
    413: "The body, an entry, a thread's meta, a blob, or a save's message or file list is "
    "over its limit.",
    415: "A `Content-Encoding` other than zstd or gzip.",
    422: "A field missing, of the wrong type, out of range or unknown.",
    429: "Too many failed logins; `detail.retry_after` says when to try again.",
    502: "`model_failed`: the configured language model answered with an error.",
    503: "The database does not answer or cannot write (its disk is full); nothing was "
    "stored. `Retry-After` says when to try again.",
}


def _document_bearer_auth(schema: dict[str, Any]) -> None:
    schemes = schema["components"].setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer", "description": "A device token."}
    for path, operations in schema["paths"].items():
        if not path.startswith(p.API_PREFIX) or path in PUBLIC_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses ``method path`` can answer with (see the module docstring)."""
    statuses = [400]
    if "security" in operation or path == LOGIN_PATH:  # wrong token, or wrong credentials
        statuses.append(401)
    if "{thread_id}" in path or (method, path) in NOT_FOUND_OPERATIONS:
        statuses.append(404)
    if (method, path) in CONFLICT_OPERATIONS:
        statuses.append(409)
    if method in BODY_METHODS:
        statuses += [413, 415]
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append(422)
    if path == LOGIN_PATH:
        statuses.append(429)
    if (method, path) in MODEL_OPERATIONS:
        statuses.append(502)
    if path not in NO_DATABASE_PATHS:
        statuses.append(503)
    return statuses


def _document_errors(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["ErrorBody"] = body
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema["paths"].items():
        if not (path.startswith(p.API_PREFIX) or path == "/healthz"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, path, operation):
                responses[str(status)] = {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": content,
                }
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, not ours
        components.pop(unused, None)


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
    _document_errors(schema)
    app.openapi_schema = schema
    return schema
