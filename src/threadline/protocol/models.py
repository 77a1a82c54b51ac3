"""Wire models of protocol v1, validated with pydantic and published as the server's OpenAPI.

Values only: row ids, offsets and cursors of either side's storage never appear here except as
opaque strings. Request models forbid unknown fields, so a typo is an error rather than a silent
no-op; answers may grow fields, which clients must ignore.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)

from threadline import protocol as p


def _no_nul(value: str) -> str:
    """NUL cannot be stored in a PostgreSQL text column, so no string may hold one."""
    if "\x00" in value:
        raise ValueError(
            "must not contain NUL (\\x00); send such a transcript line in raw as base64 "
            'with meta {"raw_encoding": "base64"}'
        )
    return value


J = TypeVar("J")

_NUL_IN_JSON = "\\u0000"


def _no_nul_inside(value: J) -> J:
    """No key or string anywhere in a JSON value may hold NUL (PostgreSQL cannot store it)."""
    if _NUL_IN_JSON not in json.dumps(value, ensure_ascii=False):
        return value  # the common case: one C pass; a literal backslash-u0000 text comes below
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


#: A number written as text, which pydantic would read as seconds since 1970.
_NUMBER_TEXT = re.compile(r"\s*[+-]?[0-9]+(\.[0-9]*)?\s*")


def _rfc3339_text(value: Any) -> Any:
    """A timestamp on the wire is date-and-time text with an offset, never a number (nor a
    number written as text); the text itself is parsed by pydantic as before."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and not _NUMBER_TEXT.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-21T10:00:00Z")


NoNul = AfterValidator(_no_nul)
Text = Annotated[str, NoNul]
#: A JSON object (``meta``) or list of objects (``parts``) holding no NUL, in keys or values.
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul_inside)]
JsonParts = Annotated[list[dict[str, Any]], AfterValidator(_no_nul_inside)]
#: An RFC 3339 timestamp string with an offset (``2026-11-21T10:00:00.123456Z``).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
#: A JSON integer (no string, no bool, no float) that a BIGINT column holds.
Position = Annotated[StrictInt, Field(ge=1, le=p.MAX_WIRE_INT)]
Role = Literal["user", "assistant", "system", "tool"]
Kind = Literal["note", "claude-code", "codex", "ask"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=p.MAX_NAME_CHARS), NoNul]
Project = Annotated[str, StringConstraints(max_length=p.MAX_PROJECT_CHARS), NoNul]
Title = Annotated[str, StringConstraints(max_length=p.MAX_TITLE_CHARS), NoNul]
Key = Annotated[str, StringConstraints(min_length=1, max_length=p.MAX_KEY_CHARS), NoNul]
Source = Annotated[str, StringConstraints(max_length=p.MAX_SOURCE_CHARS), NoNul]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- push ------------------------------------------------------------------------------------


class ThreadRef(_Request):
    """Which thread a stream belongs to. ``key`` is the thread's identity for this user.

    On a thread that exists already, a ``title``, ``meta`` (merged key by key) or
    ``parent_key`` that is not ``None`` updates it."""

    key: Key
    kind: Kind = "note"
    name: Name
    project: Project = ""
    title: Title | None = None
    meta: JsonObject | None = None
    parent_key: Key | None = Field(
        None, description="The key of the parent session thread (a subagent's thread)."
    )


class EntryIn(_Request):
    seq: Position = Field(description="Dense position in the stream: 1, 2, 3 …")
    id: UUID
    ts: Timestamp = Field(description="When the entry was written, RFC 3339 with offset.")
    role: Role
    text: Text = ""
    parts: JsonParts | None = None
    meta: JsonObject | None = None
    raw: Text | None = Field(
        None,
        description="The source line without its newline (transcripts); base64 of its bytes "
        'when meta has "raw_encoding": "base64".',
    )


class StreamBatch(_Request):
    stream_id: UUID
    thread: ThreadRef
    generation: Position = Field(
        1, description="Which rewrite of the source file this stream holds: 1, 2 …"
    )
    source: Source | None = Field(None, description="The transcript file's path on the device.")
    entries: list[EntryIn]


class PushRequest(_Request):
    device_id: UUID
    streams: list[StreamBatch]


class PushStreamResult(_Answer):
    stream_id: UUID
    thread_id: str
    tail: int = Field(description="The server's last seq of the stream after this push.")
    stored: int
    duplicates: int
    status: Literal["ok", "thread_deleted"]


class PushResponse(_Answer):
    cursor: int
    streams: list[PushStreamResult]


# --- status ----------------------------------------------------------------------------------


class StreamStatus(_Answer):
    stream_id: UUID
    thread_id: str
    tail: int
    deleted: bool
    change: int


class StatusResponse(_Answer):
    cursor: int
    streams: list[StreamStatus]


# --- threads and entries ---------------------------------------------------------------------


class Thread(_Answer):
    id: str
    key: str
    kind: Kind
    name: str
    project: str
    title: str | None
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    entry_count: int
    parent_key: str | None = None
    parent_id: str | None = Field(
        None, description="The live thread whose key is parent_key, if it has been pushed."
    )
    child_count: int = Field(0, description="Live threads whose parent_key is this key.")


class StreamInfo(_Answer):
    stream_id: UUID
    generation: int
    source: str | None
    tail: int
    device_id: UUID | None


class ThreadDetail(Thread):
    """``GET /threads/{id}``: the thread with its streams."""

    streams: list[StreamInfo]


class ThreadPage(_Answer):
    threads: list[Thread]
    next_cursor: str | None


class ThreadCreate(_Request):
    name: Name
    project: Project = ""
    kind: Kind = "note"
    key: Key | None = Field(None, description="Defaults to the note key of project and name.")
    title: Title | None = None
    meta: JsonObject | None = None


class ThreadPatch(_Request):
    name: Name | None = None
    project: Project | None = None
    title: Title | None = None
    meta: JsonObject | None = None


class Entry(_Answer):
    id: UUID
    thread_id: str
    stream_id: UUID
    seq: int
    ts: datetime
    role: Role
    text: str
    parts: list[dict[str, Any]] | None
    meta: dict[str, Any] | None
    raw: str | None
    device_id: UUID | None
    received_at: datetime


class EntryPage(_Answer):
    entries: list[Entry]
    next_cursor: str | None


class EntryCreate(_Request):
    """An entry added over plain HTTP by a client without a local store (curl)."""

    role: Role = "user"
    text: Text
    id: UUID | None = Field(None, description="Send one to make retries idempotent.")
    ts: Timestamp | None = None
    parts: JsonParts | None = None
    meta: JsonObject | None = None


# --- ask ------------------------------------------------------------------------------------


class AskAbout(_Request):
    """The file a question is about: its path from the repository root, and its content."""

    path: Annotated[
        str, StringConstraints(min_length=1, max_length=p.MAX_ABOUT_PATH_CHARS), NoNul
    ] = Field(description="Relative, with / between folders; no '.' or '..' parts.")
    content: Text = Field(description=f"At most {p.MAX_ABOUT_BYTES} UTF-8 bytes.")


class AskRequest(_Request):
    question: Annotated[
        str, StringConstraints(min_length=1, max_length=p.MAX_QUESTION_CHARS), NoNul
    ]
    project: Project | None = Field(
        None, description="Where the conversation is kept and what is searched; absent: all."
    )
    all_projects: bool = Field(False, description="Search every project (keep it in project).")
    thread: Annotated[str, StringConstraints(max_length=p.MAX_KEY_CHARS), NoNul] | None = Field(
        None, description="The thread_id of an earlier answer: continue that conversation."
    )
    scope: Annotated[str, StringConstraints(max_length=p.MAX_KEY_CHARS), NoNul] | None = Field(
        None, description="Search only threads of this scope, TYPE:ID."
    )
    about: AskAbout | None = None


class AskCitation(_Answer):
    n: int
    thread_id: str
    entry_id: str
    seq: int
    ts: str
    snippet: str
    url: str = Field(description="The entry on the thread page (a path on this server).")
    role: str
    thread_title: str
    project: str


class AskAnswer(_Answer):
    question: str
    answer: str
    no_match: bool
    citations: list[AskCitation]
    thread_id: str
    question_entry_id: str
    answer_entry_id: str
    mode: Literal["extractive", "llm"]
    model: str | None


# --- auth and discovery ----------------------------------------------------------------------


class LoginRequest(_Request):
    username: Name
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    device_id: UUID
    device_name: Name


class LoginResponse(_Answer):
    token: str
    token_id: int
    user: str
    device_id: UUID


class Me(_Answer):
    user: str
    is_admin: bool
    device_id: UUID | None
    token_id: int


class Limits(_Answer):
    max_entry_bytes: int
    max_batch_bytes: int
    max_batch_entries: int
    max_page_size: int
    max_thread_meta_bytes: int = p.MAX_THREAD_META_BYTES


class Capabilities(_Answer):
    protocol: int
    server_version: str
    features: list[str]
    encodings: list[str]
    limits: Limits


class ErrorInfo(_Answer):
    code: str
    message: str
    detail: dict[str, Any]


class ErrorBody(_Answer):
    error: ErrorInfo
