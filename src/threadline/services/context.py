"""The application state the JSON API and the web UI share, reached from any request.

:func:`threadline.server.app.create_app` builds one :class:`AppState` and keeps it on the
application; both edges read it with :func:`app_state`. It holds what the services need
(the database, the failed-login limiter, the push limits, the language model of ``ask``),
never HTTP settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from threadline.recall.llm import LanguageModel
from threadline.services.auth import LoginLimiter
from threadline.services.handoff import HandoffLimits
from threadline.services.push import PushLimits
from threadline.storage.database import Database


class HasApp(Protocol):
    """A request (or WebSocket) of any ASGI framework: it knows its application."""

    @property
    def app(self) -> Any: ...


@dataclass
class AppState:
    db: Database
    limiter: LoginLimiter
    push_limits: PushLimits
    #: Created on first use, inside the event loop (see ``server.routes.sync``).
    push_limiter: anyio.CapacityLimiter | None = None
    push_waiting: anyio.CapacityLimiter | None = None
    handoff_limits: HandoffLimits = field(default_factory=HandoffLimits)
    #: The language model that writes ``ask`` answers (``None``: extractive answers).
    model: LanguageModel | None = None


def app_state(request: HasApp) -> AppState:
    """The state of the application that ``request`` reached."""
    state: AppState = request.app.state.threadline
    return state
