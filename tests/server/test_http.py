"""The HTTP edge: one error shape everywhere, protocol header, discovery, OpenAPI, status."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body, stream
from threadline.server.app import create_app
from threadline.server.settings import ServerSettings
from threadline.storage.database import Database


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["Threadline-Protocol"] == "1"
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    info: dict[str, Any] = body["error"]
    return info


def test_healthz(client: AsgiClient, db: Database) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok", "database": db.dialect}
    assert response.headers["Threadline-Protocol"] == "1"


def test_capabilities_publish_the_limits(make_client: Any) -> None:
    client = make_client(max_entry_bytes=1000, max_batch_bytes=5000)
    caps = client.get("/api/v1/capabilities").json()
    assert caps["protocol"] == 1 and caps["encodings"] == ["zstd", "gzip"]
    assert "push" in caps["features"] and "tombstones" in caps["features"]
    assert "transcripts" in caps["features"]
    assert caps["limits"] == {
        "max_entry_bytes": 1000,
        "max_batch_bytes": 5000,
        "max_batch_entries": 10000,
        "max_page_size": 500,
        "max_thread_meta_bytes": 65536,
        "max_blob_bytes": 100 * 1024 * 1024,
        "max_save_files": 50_000,
        "max_save_message_chars": 10_000,
    }


def test_unknown_route_and_method(client: AsgiClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/v1/nope"), 404, "not_found")
    assert_error(client.request("PUT", "/api/v1/capabilities"), 405, "method_not_allowed")


@pytest.mark.parametrize("value", ["0", "-1", "one", "1.5", ""])
def test_unsupported_protocol_header(client: AsgiClient, value: str) -> None:
    response = client.get("/api/v1/capabilities", headers={"Threadline-Protocol": value})
    info = assert_error(response, 400, "unsupported_protocol")
    assert info["detail"]["supported"] == [1]


@pytest.mark.parametrize("value", ["1", "2", "17"])
def test_supported_or_newer_protocol_header(client: AsgiClient, value: str) -> None:
    response = client.get("/api/v1/capabilities", headers={"Threadline-Protocol": value})
    assert response.status_code == 200


def test_unexpected_error_is_500_in_the_one_shape(db: Database, settings: ServerSettings) -> None:
    app = create_app(settings, db=db)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    client = AsgiClient(app)
    try:
        assert_error(client.get("/boom"), 500, "internal_error")
    finally:
        client.close()


def test_openapi_documents_the_push_body(client: AsgiClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/v1/sync/push"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PushRequest"
    components = schema["components"]["schemas"]
    assert {"PushRequest", "StreamBatch", "EntryIn", "ThreadRef", "PushResponse"} <= set(components)
    assert "/api/v1/threads/{thread_id}/entries" in schema["paths"]


# --- sync status and the change cursor -------------------------------------------------------


def test_status_since_returns_only_what_changed(client: AsgiClient, alice: Account) -> None:
    s1, s2 = str(uuid.uuid4()), str(uuid.uuid4())
    first = client.post(
        "/api/v1/sync/push", json=push_body(stream(s1, [entry(1)])), headers=alice.headers
    ).json()
    second = client.post(
        "/api/v1/sync/push",
        json=push_body(stream(s2, [entry(1)], key="note:shop:b")),
        headers=alice.headers,
    ).json()
    assert second["cursor"] == first["cursor"] + 1

    def status(**params: Any) -> dict[str, Any]:
        response = client.get("/api/v1/sync/status", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    everything = status()
    assert everything["cursor"] == second["cursor"]
    assert [s["stream_id"] for s in everything["streams"]] == [s1, s2]
    assert [s["stream_id"] for s in status(since=first["cursor"])["streams"]] == [s2]
    assert status(since=second["cursor"])["streams"] == []
    assert [s["stream_id"] for s in status(stream_id=[s2])["streams"]] == [s2]
    only = status(stream_id=[s1, s2], since=0)["streams"]
    assert {(s["tail"], s["deleted"]) for s in only} == {(1, False)}

    thread_id = first["streams"][0]["thread_id"]
    client.delete(f"/api/v1/threads/{thread_id}", headers=alice.headers)
    after_delete = status(since=second["cursor"])
    assert after_delete["cursor"] == second["cursor"] + 1
    assert [(s["stream_id"], s["deleted"]) for s in after_delete["streams"]] == [(s1, True)]


@pytest.mark.parametrize("since", ["-1", "99"])
def test_status_since_beyond_the_cursor_is_bad_cursor(
    client: AsgiClient, alice: Account, since: str
) -> None:
    response = client.get("/api/v1/sync/status", params={"since": since}, headers=alice.headers)
    assert_error(response, 400, "bad_cursor")


def test_cursors_are_per_user(client: AsgiClient, alice: Account, make_account: Any) -> None:
    bob = make_account("bob")
    client.post(
        "/api/v1/sync/push",
        json=push_body(stream(str(uuid.uuid4()), [entry(1)])),
        headers=alice.headers,
    )
    assert client.get("/api/v1/sync/status", headers=bob.headers).json() == {
        "cursor": 0,
        "streams": [],
    }
