"""Odd and hostile search input, in process against the real app on both backends: whatever is
typed, the answer is 200 with results or a clear 4xx in the error shape — never a 500."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.helpers.asgi import AsgiClient
from tests.helpers.server import ENV_TEST_DATABASE, PostgresUnavailable, fresh_database_url
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.services import accounts
from threadline.storage.database import open_database

QUERIES = [
    "rate-limit",
    "os.path.join",
    "src/auth/login.py",
    '"quoted phrase"',
    '"unclosed',
    '""',
    '"',
    "'",
    "auth*",
    "*",
    "**",
    "a*",
    "*foo",
    "foo**",
    "NOT",
    "AND",
    "OR",
    "OR OR OR",
    "NOT NOT x",
    "x AND",
    "AND OR NOT",
    "x OR",
    "x NOT",
    "(",
    ")",
    "((x)",
    "x)",
    "{}[]",
    "foo:bar",
    "body:secret",
    ":",
    "^",
    "NEAR(a b)",
    "a + b - c",
    "-x",
    "--force",
    "c++",
    "&&",
    "||",
    "->",
    "=>",
    "===",
    "%",
    "%%_",
    "\\",
    "\\'; DROP TABLE entries; --",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "café",
    "日本語",
    "😀",
    "e\u0301",
    "\u200b",
    "\u00b2",
    "x \u00b2 y",
    "İstanbul",
    "ß",
    "\ufeffbom",
    "tab\tseparated",
    "new\nline",
    "a" * 500,
    " ".join(["word"] * 50),
    "x" * 300 + "*",
    "1e10",
    "0x1F",
    "12:30:45",
    "user@example.com",
    "https://example.com/a?b=c#d",
    "C:\\Users\\me\\file.txt",
    "$(rm -rf /)",
    "`backticks`",
    "lexeme:*",
    "!x",
    "x & y | !z",
    "'a' <-> 'b'",
]


@pytest.fixture(scope="module", params=BACKENDS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AsgiClient, dict[str, str]]]:
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    try:
        with fresh_database_url(request.param, folder) as url:
            db = open_database(url)
            accounts.create_user(db, "alice", "password-for-tests")
            token = accounts.create_token(db, "alice", "tests")
            app = create_app(ServerSettings(database_url=url), db=db)
            http = AsgiClient(app)
            headers = {"Authorization": f"Bearer {token.secret}"}
            _seed(http, headers)
            yield http, headers
            http.close()
            db.dispose()
    except PostgresUnavailable:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {ENV_TEST_DATABASE} is not set")
        pytest.skip(f"PostgreSQL tests need {ENV_TEST_DATABASE}")


def _seed(http: AsgiClient, headers: dict[str, str]) -> None:
    texts = QUERIES
    entries = [
        {"seq": i + 1, "id": str(uuid.uuid4()), "ts": "2026-01-01T00:00:00Z", "role": "user",
         "text": f"seeded {text}"}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    thread = {"key": "note:x:hostile", "name": "hostile", "project": "x"}
    body = {
        "device_id": str(uuid.uuid4()),
        "streams": [{"stream_id": str(uuid.uuid4()), "thread": thread, "entries": entries}],
    }
    assert http.post("/api/v1/sync/push", json=body, headers=headers).status_code == 200


def _check(answer: Any) -> None:
    assert answer.status_code in (200, 400, 422), (answer.status_code, answer.text[:300])
    data = answer.json()
    if answer.status_code == 200:
        assert isinstance(data["results"], list)
    else:
        assert set(data["error"]) == {"code", "message", "detail"}


@pytest.mark.parametrize("q", QUERIES)
def test_any_query_is_answered(client: tuple[AsgiClient, dict[str, str]], q: str) -> None:
    http, headers = client
    _check(http.get("/api/v1/search", params={"q": q}, headers=headers))
    _check(http.get("/api/v1/search", params={"q": q, "limit": 1, "role": "user"}, headers=headers))


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": ""}, 422),
        ({"q": "   "}, 422),
        ({"q": "->"}, 422),
        ({"q": "x" * 501}, 422),
        ({}, 422),
        ({"q": "x", "limit": 0}, 422),
        ({"q": "x", "limit": 101}, 422),
        ({"q": "x", "limit": "ten"}, 422),
        ({"q": "x", "kind": "nope"}, 422),
        ({"q": "x", "agent": "note"}, 422),
        ({"q": "x", "role": "robot"}, 422),
        ({"q": "x", "scope": "noid"}, 422),
        ({"q": "x", "scope": "PR:1"}, 422),
        ({"q": "x", "since": "yesterday"}, 400),
        ({"q": "x", "until": "2026-13-01"}, 400),
        ({"q": "x", "cursor": "garbage"}, 400),
        ({"q": "x", "cursor": "WzEsMTAwMDAwMDAsMV0"}, 400),  # offset beyond any page
        ({"q": "x", "cursor": "W10"}, 400),
    ],
)
def test_bad_parameters_are_clear_errors(
    client: tuple[AsgiClient, dict[str, str]], params: dict[str, Any], status: int
) -> None:
    http, headers = client
    answer = http.get("/api/v1/search", params=params, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message"]


def test_nul_in_the_address_is_refused(client: tuple[AsgiClient, dict[str, str]]) -> None:
    http, headers = client
    assert http.get("/api/v1/search?q=a%00b", headers=headers).status_code == 400


def test_seeded_odd_text_is_found(client: tuple[AsgiClient, dict[str, str]]) -> None:
    http, headers = client
    for q, expected in [("c++", "seeded c++"), ("--force", "seeded --force"),
                        ("===", "seeded ==="), ("foo:bar", "seeded foo:bar")]:  # fmt: skip
        found = http.get("/api/v1/search", params={"q": q}, headers=headers).json()["results"]
        assert expected in [h["snippet"] for h in found], q
