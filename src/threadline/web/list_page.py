"""The threads list (being built)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from threadline.server import threads as server_threads
from threadline.server.deps import app_state
from threadline.web.routes import router
from threadline.web.sessions import User
from threadline.web.templating import render


@router.get("/threads")
def threads_page(request: Request, user: User) -> Response:
    page = server_threads.list_threads(app_state(request).db, user.principal, limit=100)
    return render(request, "threads.html", threads=page.threads)
