"""Transcript capture on the server: session threads and their subagents, thread metadata,
generations of a file, and downloading a captured file byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
import zstandard

from tests.helpers.asgi import AsgiClient
from tests.helpers.server import Account
from tests.server.conftest import entry, push_body
from threadline.errors import TranscriptIncomplete
from threadline.services import transcripts
from threadline.services.auth import authenticate
from threadline.storage.database import Database
from threadline.storage.schema import entries

PUSH = "/api/v1/sync/push"
THREADS = "/api/v1/threads"
SESSION = "0a1b2c3d-0000-4000-8000-00000000000a"
DEVICE_2 = "2f6e0000-0000-4000-8000-000000000002"


def sid(n: int) -> str:
    return f"5c0f0000-0000-4000-8000-{n:012d}"


def file_entries(data: bytes) -> list[dict[str, Any]]:
    """A file's lines as the client pushes them: ``raw`` without the newline, base64 when the
    line is not UTF-8 or holds NUL, ``eol: false`` for a last line without a newline."""
    pieces = data.split(b"\n")
    lines = [(piece, True) for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append((pieces[-1], False))
    out = []
    for seq, (line, eol) in enumerate(lines, start=1):
        meta: dict[str, Any] = {}
        try:
            raw = line.decode()
            if "\x00" in raw:
                raise UnicodeDecodeError("utf-8", line, 0, 1, "NUL")
        except UnicodeDecodeError:
            raw = base64.b64encode(line).decode()
            meta["raw_encoding"] = "base64"
        if not eol:
            meta["eol"] = False
        out.append(entry(seq, "", role="user", raw=raw, meta=meta or None))
    return out


def session_stream(
    stream_id: str,
    entries_: list[dict[str, Any]],
    key: str = f"claude-code:{SESSION}",
    *,
    kind: str = "claude-code",
    **fields: Any,
) -> dict[str, Any]:
    moved = ("title", "meta", "parent_key")
    thread_fields: dict[str, Any] = {k: fields.pop(k) for k in moved if k in fields}
    name = key.rsplit(":", 1)[-1]
    ref: dict[str, Any] = {"key": key, "kind": kind, "name": name, "project": "shop"}
    ref.update(thread_fields)
    return {"stream_id": stream_id, "thread": ref, "entries": entries_, **fields}


def push(client: AsgiClient, who: Account, *streams: dict[str, Any], **kw: Any) -> Any:
    return client.post(PUSH, json=push_body(*streams, **kw), headers=who.headers)


def pushed(client: AsgiClient, who: Account, *streams: dict[str, Any], **kw: Any) -> Any:
    response = push(client, who, *streams, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def get_thread(client: AsgiClient, who: Account, thread_id: str) -> dict[str, Any]:
    response = client.get(f"{THREADS}/{thread_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    thread: dict[str, Any] = response.json()
    return thread


def download(client: AsgiClient, who: Account, thread_id: str, **params: Any) -> Any:
    return client.get(f"{THREADS}/{thread_id}/transcript", params=params, headers=who.headers)


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["message"]
    code: str = body["error"]["code"]
    return code


def names(client: AsgiClient, who: Account, **params: Any) -> list[str]:
    response = client.get(THREADS, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return sorted(t["name"] for t in response.json()["threads"])


# --- parents and children --------------------------------------------------------------------


def test_subagent_pushed_before_its_session_links_up(client: AsgiClient, alice: Account) -> None:
    parent_key = f"claude-code:{SESSION}"
    child = session_stream(
        sid(2), file_entries(b"{}\n"), f"{parent_key}:agent-1", parent_key=parent_key
    )
    child_id = pushed(client, alice, child)["streams"][0]["thread_id"]
    orphan = get_thread(client, alice, child_id)
    assert orphan["parent_key"] == parent_key
    assert (orphan["parent_id"], orphan["child_count"]) == (None, 0), "parent not pushed yet"

    parent_id = pushed(client, alice, session_stream(sid(1), file_entries(b"{}\n")))["streams"][0][
        "thread_id"
    ]
    child2 = session_stream(
        sid(3), file_entries(b"{}\n"), f"{parent_key}:agent-2", parent_key=parent_key
    )
    pushed(client, alice, child2)
    pushed(client, alice, session_stream(sid(4), file_entries(b"{}\n"), "codex:x", kind="codex"))

    assert get_thread(client, alice, child_id)["parent_id"] == parent_id
    parent = get_thread(client, alice, parent_id)
    assert (parent["parent_id"], parent["child_count"]) == (None, 2)
    listed = {t["id"]: t for t in client.get(THREADS, headers=alice.headers).json()["threads"]}
    assert listed[child_id]["parent_id"] == parent_id and listed[parent_id]["child_count"] == 2

    assert names(client, alice, parent_id=parent_id) == ["agent-1", "agent-2"]
    assert names(client, alice, parent_id=child_id) == []
    assert names(client, alice, top_level="true") == [SESSION, "x"]
    assert names(client, alice, top_level="false") == ["agent-1", "agent-2"]
    assert names(client, alice, kind="claude-code", top_level="true") == [SESSION]
    assert names(client, alice, kind="codex") == ["x"]
    assert len(names(client, alice, kind="claude-code")) == 3

    client.delete(f"{THREADS}/{child_id}", headers=alice.headers)
    assert get_thread(client, alice, parent_id)["child_count"] == 1, "only live children count"
    client.delete(f"{THREADS}/{parent_id}", headers=alice.headers)
    [left] = client.get(THREADS, params={"top_level": "false"}, headers=alice.headers).json()[
        "threads"
    ]
    assert left["parent_id"] is None, "a deleted parent is no parent"


def test_parent_filter_of_another_users_thread_is_404(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    bob = make_account("bob")
    bobs = pushed(client, bob, session_stream(sid(1), file_entries(b"{}\n")))
    bob_thread = bobs["streams"][0]["thread_id"]
    response = client.get(THREADS, params={"parent_id": bob_thread}, headers=alice.headers)
    assert error_code(response, 404) == "not_found"
    other = client.get(f"{THREADS}/{bob_thread}", headers=alice.headers)
    assert error_code(other, 404) == "not_found"


def test_parents_resolve_within_one_user(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    bob = make_account("bob")
    pushed(client, bob, session_stream(sid(1), file_entries(b"{}\n")))
    child = session_stream(
        sid(2), file_entries(b"{}\n"), "claude-code:c", parent_key=f"claude-code:{SESSION}"
    )
    child_id = pushed(client, alice, child)["streams"][0]["thread_id"]
    assert get_thread(client, alice, child_id)["parent_id"] is None


def test_a_thread_cannot_be_its_own_parent(client: AsgiClient, alice: Account) -> None:
    key = f"claude-code:{SESSION}"
    response = push(client, alice, session_stream(sid(1), [entry(1)], key, parent_key=key))
    assert error_code(response, 422) == "invalid_request"
    [problem] = response.json()["error"]["detail"]["errors"]
    assert problem["loc"] == ["body", "streams", 0, "thread", "parent_key"]


# --- thread metadata -------------------------------------------------------------------------


def test_meta_merge_title_and_parent_key_on_an_existing_thread(
    client: AsgiClient, alice: Account
) -> None:
    meta = {"agent": "claude-code", "session_id": SESSION, "tokens": {"input": 1, "output": 2}}
    first = pushed(client, alice, session_stream(sid(1), [entry(1)], title="One", meta=meta))
    thread_id = first["streams"][0]["thread_id"]
    update = {"tokens": {"input": 5}, "model": "opus", "last_activity": "2026-11-21T10:00:05Z"}
    pushed(
        client,
        alice,
        session_stream(sid(1), [entry(2)], title="Two", meta=update, parent_key="claude-code:p"),
    )
    thread = get_thread(client, alice, thread_id)
    assert thread["title"] == "Two" and thread["parent_key"] == "claude-code:p"
    assert thread["meta"] == {
        "agent": "claude-code",
        "session_id": SESSION,
        "tokens": {"input": 5},
        "model": "opus",
        "last_activity": "2026-11-21T10:00:05Z",
    }, "a shallow merge: top-level keys replace"
    pushed(client, alice, session_stream(sid(1), [entry(3)], title=None, meta=None))
    again = get_thread(client, alice, thread_id)
    assert again["title"] == "Two" and again["parent_key"] == "claude-code:p"
    assert again["meta"] == thread["meta"], "null leaves them as they are"


def test_change_cursor_moves_only_on_a_real_change(client: AsgiClient, alice: Account) -> None:
    meta = {"session_id": SESSION, "model": "opus"}
    fields: dict[str, Any] = {"title": "T", "meta": meta, "parent_key": "claude-code:p"}
    first = pushed(client, alice, session_stream(sid(1), [entry(1)], **fields))
    thread_id = first["streams"][0]["thread_id"]
    before = get_thread(client, alice, thread_id)
    same = pushed(client, alice, session_stream(sid(1), [], **fields))
    assert same["cursor"] == first["cursor"], "same title, meta and parent: nothing changed"
    subset = pushed(client, alice, session_stream(sid(1), [], meta={"model": "opus"}))
    assert subset["cursor"] == first["cursor"]
    assert get_thread(client, alice, thread_id)["updated_at"] == before["updated_at"]
    changed = pushed(client, alice, session_stream(sid(1), [], meta={"model": "sonnet"}))
    assert changed["cursor"] == first["cursor"] + 1
    status = client.get("/api/v1/sync/status", headers=alice.headers).json()
    assert status["cursor"] == changed["cursor"]
    retitled = pushed(client, alice, session_stream(sid(1), [], title="U"))
    assert retitled["cursor"] == changed["cursor"] + 1
    reparented = pushed(client, alice, session_stream(sid(1), [], parent_key="claude-code:q"))
    assert reparented["cursor"] == retitled["cursor"] + 1


def test_thread_meta_over_the_limit_is_413(client: AsgiClient, alice: Account) -> None:
    big = {"blob": "x" * (64 * 1024)}
    response = push(client, alice, session_stream(sid(1), [entry(1)], meta=big))
    assert error_code(response, 413) == "meta_too_large"
    detail = response.json()["error"]["detail"]
    assert detail["limit"] == 65536 and detail["size"] > 65536 and detail["stream_id"] == sid(1)
    assert client.get(THREADS, headers=alice.headers).json()["threads"] == [], "nothing stored"

    at_limit = {"a": "x" * (64 * 1024 - len('{"a":""}'))}
    pushed(client, alice, session_stream(sid(1), [entry(1)], meta=at_limit))
    grown = push(client, alice, session_stream(sid(1), [entry(2)], meta={"b": 1}))
    assert error_code(grown, 413) == "meta_too_large", "the merged meta counts"
    thread_id = client.get(THREADS, headers=alice.headers).json()["threads"][0]["id"]
    patched = client.patch(f"{THREADS}/{thread_id}", json={"meta": {"b": 1}}, headers=alice.headers)
    assert error_code(patched, 413) == "meta_too_large"
    created = client.post(
        THREADS, json={"name": "n", "meta": big, "key": "note:x:n"}, headers=alice.headers
    )
    assert error_code(created, 413) == "meta_too_large"


@pytest.mark.parametrize(
    ("where", "make"),
    [
        ("raw", lambda: entry(1, raw="a\x00b")),
        ("text", lambda: entry(1, "a\x00b")),
    ],
)
def test_nul_in_a_line_is_422(
    client: AsgiClient, alice: Account, where: str, make: Callable[[], dict[str, Any]]
) -> None:
    response = push(client, alice, session_stream(sid(1), [make()]))
    assert error_code(response, 422) == "invalid_request"
    [problem] = response.json()["error"]["detail"]["errors"]
    assert problem["loc"] == ["body", "streams", 0, "entries", 0, where]
    assert "NUL" in problem["msg"] and "base64" in problem["msg"]


def test_nul_in_thread_fields_is_422(client: AsgiClient, alice: Account) -> None:
    response = push(client, alice, session_stream(sid(1), [entry(1)], title="a\x00"))
    assert error_code(response, 422) == "invalid_request"
    source = push(client, alice, session_stream(sid(1), [entry(1)], source="/tmp/a\x00"))
    assert error_code(source, 422) == "invalid_request"
    posted = client.post(THREADS, json={"name": "a\x00"}, headers=alice.headers)
    assert error_code(posted, 422) == "invalid_request"


# --- generations and downloads ---------------------------------------------------------------


GEN_1 = b"".join(b'{"n": %d, "gen": 1}\n' % i for i in range(1, 6))
GEN_2 = b'{"n": 1, "gen": 2}\n{"n": 2}\n{"n": 3}\n'


def test_generations_keep_the_old_file(client: AsgiClient, alice: Account) -> None:
    source = "/home/me/.claude/projects/shop/" + SESSION + ".jsonl"
    meta = {"session_id": SESSION}
    first = session_stream(sid(1), file_entries(GEN_1), source=source, meta=meta)
    thread_id = pushed(client, alice, first)["streams"][0]["thread_id"]
    second = session_stream(sid(2), file_entries(GEN_2), generation=2, source=source)
    assert pushed(client, alice, second)["streams"][0]["thread_id"] == thread_id

    latest = download(client, alice, thread_id)
    assert latest.status_code == 200, latest.text
    assert latest.content == GEN_2
    assert latest.headers["Threadline-Generation"] == "2"
    assert latest.headers["Threadline-Stream-Id"] == sid(2)
    assert latest.headers["content-type"] == "application/x-ndjson"
    assert latest.headers["content-disposition"] == f'attachment; filename="{SESSION}.jsonl"'
    older = download(client, alice, thread_id, generation=1)
    assert older.content == GEN_1 and older.headers["Threadline-Generation"] == "1"

    thread = get_thread(client, alice, thread_id)
    assert thread["entry_count"] == 8
    assert [
        (s["stream_id"], s["generation"], s["source"], s["tail"]) for s in thread["streams"]
    ] == [
        (sid(1), 1, source, 5),
        (sid(2), 2, source, 3),
    ]
    assert {s["device_id"] for s in thread["streams"]} == {"2f6e0000-0000-4000-8000-000000000001"}
    listed = client.get(
        f"{THREADS}/{thread_id}/entries", params={"raw": "true"}, headers=alice.headers
    ).json()["entries"]
    assert len(listed) == 8 and {e["stream_id"] for e in listed} == {sid(1), sid(2)}


def test_unknown_generation_and_threads_without_a_transcript_are_404(
    client: AsgiClient, alice: Account, make_account: Callable[..., Account]
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(GEN_1)))["streams"][0][
        "thread_id"
    ]
    unknown = download(client, alice, thread_id, generation=2)
    assert error_code(unknown, 404) == "no_transcript"
    assert unknown.json()["error"]["detail"]["generations"] == [1]
    assert error_code(download(client, alice, thread_id, generation=0), 422) == "invalid_request"

    note = client.post(THREADS, json={"name": "main", "project": "shop"}, headers=alice.headers)
    client.post(
        f"{THREADS}/{note.json()['id']}/entries", json={"text": "hi"}, headers=alice.headers
    )
    assert error_code(download(client, alice, note.json()["id"]), 404) == "no_transcript"

    bob = make_account("bob")
    assert error_code(download(client, bob, thread_id), 404) == "not_found"
    assert error_code(download(client, alice, str(uuid.uuid4())), 404) == "not_found"
    client.delete(f"{THREADS}/{thread_id}", headers=alice.headers)
    assert error_code(download(client, alice, thread_id), 404) == "not_found"


TRICKY = (
    '{"text": "héllo — 世界 🎉"}\n'.encode()
    + b'{"crlf": true}\r\n'
    + b"\n"
    + b'{"bad": "\xff\xfe\xc3("}\n'
    + b'{"nul": "a\x00b"}\n'
    + b"   \t \n"
    + b'{"last": "no newline"}'
)


@pytest.mark.parametrize(
    "data", [TRICKY, TRICKY + b"\n", b"\n", b"x"], ids=["eof", "eol", "1", "2"]
)
def test_download_is_byte_exact(
    make_client: Callable[..., AsgiClient],
    alice: Account,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
) -> None:
    monkeypatch.setattr(transcripts, "PAGE_ROWS", 2)  # several pages and chunks
    monkeypatch.setattr(transcripts, "CHUNK_BYTES", 16)
    client = make_client()
    meta = {"session_id": '../etc/pass wd"\r\n'}
    lines = file_entries(data)
    thread_id = pushed(client, alice, session_stream(sid(1), lines, meta=meta))["streams"][0][
        "thread_id"
    ]
    response = download(client, alice, thread_id)
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert response.headers["content-disposition"] == 'attachment; filename="etc_pass_wd.jsonl"'


def test_filename_falls_back_to_the_thread_id(client: AsgiClient, alice: Account) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(b"{}\n")))["streams"][0][
        "thread_id"
    ]
    disposition = download(client, alice, thread_id).headers["content-disposition"]
    assert disposition == f'attachment; filename="{thread_id}.jsonl"'


def test_same_generation_on_two_devices_serves_the_longest(
    client: AsgiClient, alice: Account
) -> None:
    short, long = b'{"a": 1}\n', b'{"a": 1}\n{"b": 2}\n'
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(short)))["streams"][0][
        "thread_id"
    ]
    pushed(client, alice, session_stream(sid(2), file_entries(long)), device_id=DEVICE_2)
    pushed(client, alice, session_stream(sid(1), file_entries(short + b'{"c": 3}\n')[1:]))
    assert download(client, alice, thread_id).headers["Threadline-Stream-Id"] == sid(1), (
        "equal lines: the latest change wins"
    )
    pushed(
        client,
        alice,
        session_stream(sid(2), file_entries(long + b"{}\n{}\n")[2:]),
        device_id=DEVICE_2,
    )
    response = download(client, alice, thread_id)
    assert response.headers["Threadline-Stream-Id"] == sid(2)
    assert response.content == long + b"{}\n{}\n"


def test_a_stream_missing_a_line_is_refused_not_served(
    client: AsgiClient, alice: Account, db: Database
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(GEN_1)))["streams"][0][
        "thread_id"
    ]
    with db.write() as conn:
        conn.execute(entries.delete().where(entries.c.thread_id == thread_id, entries.c.seq == 3))
    response = download(client, alice, thread_id)
    assert error_code(response, 500) == "transcript_incomplete"
    assert response.json()["error"]["detail"]["tail"] == 5


def test_a_line_of_several_megabytes_round_trips(client: AsgiClient, alice: Account) -> None:
    big = json.dumps(
        {"type": "assistant", "blob": base64.b64encode(os.urandom(3_750_000)).decode()}
    )
    data = b'{"first": 1}\n' + big.encode() + b"\n" + b'{"last": 1}\n'
    assert len(big) >= 5_000_000
    body = json.dumps(push_body(session_stream(sid(1), file_entries(data)))).encode()
    compressed = zstandard.ZstdCompressor().compress(body)
    headers = {**alice.headers, "Content-Encoding": "zstd", "Content-Type": "application/json"}
    response = client.post(PUSH, content=compressed, headers=headers)
    assert response.status_code == 200, response.text
    thread_id = response.json()["streams"][0]["thread_id"]
    got = download(client, alice, thread_id)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()


def test_transcript_route_needs_a_token(client: AsgiClient) -> None:
    response = client.get(f"{THREADS}/{uuid.uuid4()}/transcript")
    assert error_code(response, 401) == "unauthorized"


def test_generation_and_source_default_to_one_and_null(
    client: AsgiClient, alice: Account, db: Database
) -> None:
    thread_id = pushed(client, alice, session_stream(sid(1), file_entries(b"{}\n")))["streams"][0][
        "thread_id"
    ]
    with db.read() as conn:
        row = conn.execute(sa.text("SELECT generation, source FROM streams")).one()
    assert (row.generation, row.source) == (1, None)
    assert download(client, alice, thread_id).headers["Threadline-Generation"] == "1"


def test_a_download_serves_the_lines_there_were_and_is_cut_off_if_they_go(
    client: AsgiClient, alice: Account, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcripts, "PAGE_ROWS", 2)
    monkeypatch.setattr(transcripts, "CHUNK_BYTES", 1)
    lines = file_entries(GEN_1 + b"{}\n{}\n")
    thread_id = pushed(client, alice, session_stream(sid(1), lines[:5]))["streams"][0]["thread_id"]
    who = authenticate(db, f"Bearer {alice.token}")
    chosen = transcripts.choose(db, who, thread_id, None)
    pushed(client, alice, session_stream(sid(1), lines[5:]))
    assert b"".join(transcripts.lines(db, chosen)) == GEN_1, "lines pushed later wait"

    chunks = transcripts.lines(db, chosen)
    assert next(chunks) == GEN_1.split(b"\n")[0] + b"\n"
    client.delete(f"{THREADS}/{thread_id}", headers=alice.headers)
    with pytest.raises(TranscriptIncomplete, match="ends at line 2"):
        list(chunks)
