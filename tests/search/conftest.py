"""One searchable server per backend, shared by this folder's tests (session scope): a real
``threadline serve`` with two users, real transcripts imported with the real ``threadline
import``, and a few notes pushed over the API whose words the tests know.

alice imports a Claude Code session (sniffly, project ``/Users/chip/dev/ai-music``) and a
Codex session (agentcmd, a monorepo) from ``/work/shared/fixtures``, and pushes notes into
``acme/demo``; bob pushes one note of his own. The notes (see :data:`NOTES`) carry:

- ``zanzibar`` in a prompt (oldest), in a tool call's input and, three times, in a tool
  result (newest): ranking puts the prompt first;
- ``pagingword`` in seven entries, for paging;
- paths, dotted names, a hyphenated word, an identifier, and HTML that must stay text.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, FIXTURES
from tests.helpers import cli
from tests.helpers.server import (
    ENV_TEST_DATABASE,
    Account,
    PostgresUnavailable,
    ServerProcess,
    create_user_and_token,
    fresh_database_url,
    login,
)

CLAUDE_SESSION = FIXTURES / "claude/sniffly/ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl"
CODEX_SESSION = (
    FIXTURES / "codex/agentcmd/sessions/2025/09/25/"
    "rollout-2025-09-25T15-12-14-019982b8-3422-79e0-8b3b-05abaf4f3c3e.jsonl"
)
DEVICE = "5e4c0000-0000-4000-8000-0000000000d1"
PROJECT = "acme/demo"


def _entry(n: int, ts: str, role: str, text: str, parts: Any = None) -> dict[str, Any]:
    entry = {"seq": n, "id": str(uuid.uuid4()), "ts": ts, "role": role, "text": text}
    if parts is not None:
        entry["parts"] = parts
    return entry


def _notes() -> dict[str, list[dict[str, Any]]]:
    """Thread name → its entries (pushed as one stream each, into :data:`PROJECT`)."""
    zanzibar = [
        _entry(1, "2026-01-10T10:00:00Z", "user", "Why does the zanzibar cache miss so often?"),
        _entry(
            2,
            "2026-01-10T10:01:00Z",
            "assistant",
            "",
            [
                {
                    "type": "tool_call",
                    "id": "c1",
                    "name": "Bash",
                    "input": {"command": "grep -rn zanzibar src/"},
                }
            ],
        ),
        _entry(
            3,
            "2026-01-10T10:02:00Z",
            "tool",
            "src/cache.py: zanzibar = Zanzibar()  # zanzibar zanzibar",
            [
                {
                    "type": "tool_result",
                    "tool_call_id": "c1",
                    "output": "src/cache.py: zanzibar = Zanzibar()  # zanzibar zanzibar",
                }
            ],
        ),
        _entry(
            4,
            "2026-01-11T09:00:00Z",
            "assistant",
            "Fixed the rate-limit bug: os.path.join got a None in src/auth/login.py, "
            "and the RateLimiter now backs off.",
        ),
        _entry(5, "2026-01-12T09:00:00Z", "user", "<script>alert('xss')</script> xsstoken <b>"),
    ]
    paging = [
        _entry(n, f"2026-02-0{n}T08:00:00Z", "assistant", f"pagingword number {n}")
        for n in range(1, 8)
    ]
    return {"zanzibar": zanzibar, "paging": paging}


NOTES = _notes()


@dataclass
class Indexed:
    """The module's server and what is on it."""

    backend: str
    server: ServerProcess
    alice: Account
    bob: Account
    alice_home: Path
    bob_home: Path
    #: Thread name → server thread id (alice's notes).
    threads: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def search(self, who: Account | None = None, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.url}/api/v1/search",
            params={k: v for k, v in params.items() if v is not None},
            headers=(who or self.alice).headers,
            timeout=30,
        )

    def hits(self, q: str, **params: Any) -> list[dict[str, Any]]:
        answer = self.search(q=q, **params)
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        return results


def push(url: str, who: Account, name: str, entries: list[dict[str, Any]], **thread: Any) -> str:
    """Push ``entries`` as one new stream of the note thread ``name``; return the thread id."""
    ref = {"key": f"note:{PROJECT}:{name}", "kind": "note", "name": name, "project": PROJECT}
    ref.update(thread)
    body = {
        "device_id": DEVICE,
        "streams": [{"stream_id": str(uuid.uuid4()), "thread": ref, "entries": entries}],
    }
    answer = httpx.post(f"{url}/api/v1/sync/push", json=body, headers=who.headers, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    thread_id: str = answer.json()["streams"][0]["thread_id"]
    return thread_id


@pytest.fixture(scope="session", params=BACKENDS)
def indexed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    if not FIXTURES.is_dir():
        message = f"real transcripts not found at {FIXTURES}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp(f"search-{request.param}")
    try:
        with fresh_database_url(request.param, folder) as url:
            yield from _serve(request.param, url, folder)
    except PostgresUnavailable:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {ENV_TEST_DATABASE} is not set: PostgreSQL must be tested")
        pytest.skip(f"PostgreSQL tests need {ENV_TEST_DATABASE}=postgresql://user@host:port/db")


def _serve(backend: str, url: str, folder: Path) -> Iterator[Indexed]:
    from tests.helpers.server import ADMIN_PASSWORD

    with ServerProcess(folder / "server-home", url) as server:
        alice = create_user_and_token(url, "alice", ADMIN_PASSWORD)
        bob = create_user_and_token(url, "bob", ADMIN_PASSWORD)
        site = Indexed(backend, server, alice, bob, folder / "alice", folder / "bob")
        login(site.alice_home, server, "alice")
        login(site.bob_home, server, "bob")
        imported = cli.run(
            site.alice_home, "import", str(CLAUDE_SESSION), str(CODEX_SESSION), timeout=180
        )
        assert imported.returncode == 0, imported.stderr
        for name, entries in NOTES.items():
            site.threads[name] = push(server.url, alice, name, entries)
        for number in (42, 43):
            scoped = [_entry(1, "2026-01-20T10:00:00Z", "user", f"scopedword about pr {number}")]
            site.threads[f"pr-{number}"] = push(
                server.url, alice, f"pr-{number}", scoped, scope=f"pr:{number}"
            )
        push(
            server.url,
            bob,
            "bob-notes",
            [_entry(1, "2026-01-10T10:00:00Z", "user", "bobsecret zanzibar pagingword")],
        )
        yield site
