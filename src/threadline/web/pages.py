"""Threads: the list and a thread's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from threadline.server import threads as server_threads
from threadline.server.deps import app_state
from threadline.web.routes import router
from threadline.web.sessions import WebUser, require_user
from threadline.web.templating import render

User = Annotated[WebUser, Depends(require_user)]


@router.get("/threads")
def threads_page(request: Request, user: User) -> Response:
    page = server_threads.list_threads(app_state(request).db, user.principal, limit=100)
    return render(request, "threads.html", threads=page.threads)
