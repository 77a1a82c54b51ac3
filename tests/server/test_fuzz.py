"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis).

Every operation of ``/openapi.json`` gets a fixed, small number of generated requests — valid
and invalid parameters and bodies — against the real ASGI app on SQLite and PostgreSQL, with a
valid bearer token. Each request is sent as generated and again aimed at a real thread of the
caller (so the deeper paths run too, not only ``404``). The answer must never be a ``5xx`` and
must match what the schema documents: its status, content type and body schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.storage.database import Database

#: Generated requests per operation and backend: enough to hit every parameter and body
#: field with good and bad values, few enough that a backend takes well under a minute.
EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STREAM = "5c0f0000-0000-4000-8000-0000000000f2"


@pytest.fixture
def fuzz_app(db: Database, settings: ServerSettings) -> Iterator[Any]:
    yield create_app(settings, db=db)


@pytest.fixture
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture
def thread_id(fuzz_app: Any, alice: Account) -> str:
    """A thread of the caller's with a few entries, for the ``{thread_id}`` routes."""
    client = AsgiClient(fuzz_app)
    try:
        body = push_body(stream(STREAM, [entry(1), entry(2, raw='{"type":"x"}')]))
        response = client.post("/api/v1/sync/push", json=body, headers=alice.headers)
        assert response.status_code == 200, response.text
        return str(response.json()["streams"][0]["thread_id"])
    finally:
        client.close()


@pytest.mark.timeout(120)
def test_every_operation_survives_fuzzing(fuzz_app: Any, alice: Account, thread_id: str) -> None:
    """Each operation, positive and negative data; the failures of all of them are listed.

    The operations are driven with hypothesis directly: schemathesis' pytest loader
    (``schemathesis.pytest.from_fixture``) does not run under pytest 9 (it reads
    ``Function._nodeid``). ``derandomize`` keeps the examples the same on every run."""
    api = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not has_inputs(operation):
                continue  # nothing to make invalid
            try:
                fuzz(operation.as_strategy(generation_mode=mode), alice, thread_id)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{label} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)


def has_inputs(operation: Any) -> bool:
    """Whether the operation takes parameters or a body (which negative data can break)."""
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def fuzz(strategy: Any, alice: Account, thread_id: str) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=alice.headers, checks=CHECKS)
        if "thread_id" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "thread_id": thread_id}
            case.call_and_validate(headers=alice.headers, checks=CHECKS)

    run()
