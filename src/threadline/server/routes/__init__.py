"""The HTTP routes of protocol v1, one module per area; :data:`ROUTERS` lists them all."""

from __future__ import annotations

from threadline.server.routes import auth, meta, sync, threads

ROUTERS = [meta.router, auth.router, sync.router, threads.router]
