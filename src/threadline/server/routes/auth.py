"""Logging in with a password, logging out (revoking the calling token), and ``/me``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from threadline import protocol as p
from threadline.protocol.models import LoginRequest, LoginResponse, Me
from threadline.server.deps import Who, body_spec, json_response, read_json
from threadline.services import auth
from threadline.services.context import app_state

router = APIRouter(prefix=f"{p.API_PREFIX}", tags=["auth"])


@router.post(
    "/auth/login",
    status_code=201,
    response_model=LoginResponse,
    openapi_extra=body_spec(LoginRequest),
)
async def login(request: Request) -> Response:
    body = await read_json(request, LoginRequest)
    state = app_state(request)
    address = request.client.host if request.client else "unknown"
    answer = await run_in_threadpool(auth.login, state.db, state.limiter, body, address)
    return json_response(answer, 201)


@router.delete("/auth/token", status_code=204)
def logout(request: Request, who: Who) -> Response:
    auth.revoke(app_state(request).db, who.token_id)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def me(who: Who) -> Me:
    return Me(
        user=who.user,
        is_admin=who.is_admin,
        device_id=uuid.UUID(who.device_uuid) if who.device_uuid else None,
        token_id=who.token_id,
    )
