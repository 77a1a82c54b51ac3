"""The agents' MCP server under test: the real ``threadline mcp`` subprocess, driven by the
SDK's own client over stdio (``stdio_client`` + ``ClientSession``), against a real server.

``shared_server`` is one SQLite ``threadline serve`` for the whole run (each test signs in users of
its own, so tests never see each other's data); tests that must run on both databases take
``server`` from ``tests/conftest.py`` instead. An :class:`Agent` is one machine: its own
``THREADLINE_HOME`` and the project folder the agent starts the server in.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from anyio.from_thread import BlockingPortal
from mcp.types import CallToolResult, InitializeResult, Tool

from mcp import ClientSession, StdioServerParameters, stdio_client
from tests.helpers.cli import THREADLINE
from tests.helpers.server import ServerProcess, create_user_and_token
from threadline.client.api import Api

#: Seconds one MCP request may take (the server's first import of the SDK is the slow part).
READ_TIMEOUT = 60.0


@dataclass
class Agent:
    """A machine running an agent: its Threadline home and the folder it works in."""

    home: Path
    cwd: Path
    server_url: str | None = None
    token: str | None = None
    #: Where the server's stderr (its log) goes: the test's own stderr when ``None``.
    log: Path | None = None
    #: Arguments of ``threadline`` before ``mcp`` (``--debug``).
    flags: tuple[str, ...] = ()

    def api(self) -> Api:
        assert self.server_url and self.token
        return Api(self.server_url, self.token)

    def params(self) -> StdioServerParameters:
        return StdioServerParameters(
            command=THREADLINE,
            args=[*self.flags, "mcp"],
            env={"THREADLINE_HOME": str(self.home)},
            cwd=self.cwd,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """``threadline mcp`` started and initialized for the block, stopped after it."""
        with (
            anyio.from_thread.start_blocking_portal() as portal,
            portal.wrap_async_context_manager(self._session()) as (init, session),
        ):
            yield Session(portal, session, init)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[InitializeResult, ClientSession]]:
        with ExitStack() as files:
            errlog = files.enter_context(self.log.open("a")) if self.log else sys.stderr
            async with (
                stdio_client(self.params(), errlog=errlog) as (read, write),
                ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session,
            ):
                yield await session.initialize(), session

    def call(self, *calls: tuple[str, dict[str, Any]]) -> list[CallToolResult]:
        """Start ``threadline mcp``, make the tool calls in order, and stop it."""
        with self.session() as session:
            return [session.call(name, args) for name, args in calls]


@dataclass
class Session:
    """A running ``threadline mcp`` and the SDK client's session with it, for sync tests."""

    portal: BlockingPortal
    client: ClientSession
    init: InitializeResult

    def call(self, name: str, args: dict[str, Any] | None = None) -> CallToolResult:
        result = self.portal.call(self.client.call_tool, name, args or {})
        assert isinstance(result, CallToolResult)
        return result

    def tools(self) -> list[Tool]:
        return self.portal.call(self.client.list_tools).tools


def text(result: CallToolResult) -> str:
    """The text the model reads."""
    return "\n".join(str(getattr(block, "text", "")) for block in result.content)


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def sign_in(home: Path, server_url: str, token: str, user: str) -> None:
    """What ``threadline login`` stores, written directly (the login itself is tested
    elsewhere)."""
    home.mkdir(parents=True, exist_ok=True)
    creds = {"server_url": server_url, "token": token, "user": user}
    (home / "credentials.json").write_text(json.dumps(creds))


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("mcp-server")
    with ServerProcess(folder / "home", f"sqlite:///{folder / 'server.db'}") as srv:
        yield srv


def make_agent(
    tmp_path: Path, server: ServerProcess | None, name: str, project: str = "shop"
) -> Agent:
    """A machine of a new user ``name``-<random> of ``server`` (signed in when given one),
    working in a folder whose project is ``project``."""
    home = tmp_path / name / "home"
    cwd = tmp_path / name / project
    cwd.mkdir(parents=True)
    home.mkdir(parents=True)
    agent = Agent(home, cwd)
    if server is not None:
        user = f"{name}-{secrets.token_hex(4)}"
        account = create_user_and_token(server.database_url, user)
        sign_in(home, server.url, account.token, user)
        agent.server_url, agent.token = server.url, account.token
    return agent


def add_note_thread(agent: Agent, name: str, texts: Sequence[str], project: str = "shop") -> str:
    """A note thread with one entry per text (a second apart), through the API; its id."""
    api = agent.api()
    thread = api.create_thread({"name": name, "project": project, "kind": "note"})
    for i, body in enumerate(texts):
        entry = {"role": "assistant", "text": body, "ts": f"2026-11-21T10:00:{i:02d}Z"}
        api.call("POST", f"/api/v1/threads/{thread['id']}/entries", entry)
    return str(thread["id"])
