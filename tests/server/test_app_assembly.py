"""The application is assembled in one place: every router is mounted explicitly, in order,
and importing a module registers nothing."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from threadline.server.app import API_ROUTERS, WEB_ROUTERS, create_app
from threadline.server.settings import ServerSettings


def flat(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes in matching order, through included routers (FastAPI ≥ 0.16x keeps an
    included router as one entry holding ``original_router``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat(inner.routes)
        else:
            yield route


def paths(tmp_path: Path) -> list[str]:
    app = create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 's.db'}"))
    return [route.path for route in flat(app.routes) if isinstance(route, APIRoute)]


def test_the_list_rows_come_before_the_thread_pattern(tmp_path: Path) -> None:
    found = paths(tmp_path)
    assert found.index("/threads") < found.index("/threads/{thread_id}")
    assert found.index("/threads/rows") < found.index("/threads/{thread_id}")


def test_every_router_is_mounted_once(tmp_path: Path) -> None:
    found = paths(tmp_path)
    wanted = [
        route.path
        for router in (*API_ROUTERS, *WEB_ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert sorted(found) == sorted(wanted)
    assert "/api/v1/sync/push" in found and "/account/tokens/{token_id}/revoke" in found


def test_each_web_module_routes_only_its_own_pages() -> None:
    """No shared router that page modules add to when imported: each router holds the
    endpoints of the module that defines it."""
    for router in WEB_ROUTERS:
        modules = {r.endpoint.__module__ for r in router.routes if isinstance(r, APIRoute)}
        assert len(modules) == 1, modules
        assert modules == {web_module(router)}


def web_module(router: Any) -> str:
    import threadline.web

    for found in pkgutil.iter_modules(threadline.web.__path__):
        module = importlib.import_module(f"threadline.web.{found.name}")
        if getattr(module, "router", None) is router:
            return module.__name__
    raise AssertionError("a web router that no page module exposes")
