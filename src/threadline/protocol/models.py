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
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
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


def _scope(value: str) -> str:
    p.parse_scope(value)  # raises ValueError naming the rule
    return value


#: A thread's scope, ``TYPE:ID`` (``pr:123``): see :func:`threadline.protocol.parse_scope`.
Scope = Annotated[
    str,
    AfterValidator(_scope),
    Field(
        description="What the thread is about, TYPE:ID (e.g. pr:123): one live thread per "
        "scope and project.",
        examples=["pr:123"],
    ),
]


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
    scope: Scope | None = None


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
    scope: str | None = Field(None, description="What the thread is about, TYPE:ID, or null.")


class StreamInfo(_Answer):
    stream_id: UUID
    generation: int
    source: str | None
    tail: int
    device_id: UUID | None


class ThreadDetail(Thread):
    """``GET /threads/{id}``: the thread with its streams."""

    streams: list[StreamInfo]


class TranscriptDigest(_Answer):
    """``GET /threads/{id}/transcript/digest``: the SHA-256 of a run of a transcript's lines,
    so a client can check the lines it holds without downloading them."""

    stream_id: UUID
    generation: int
    lines_total: int = Field(description="Lines in the stream's whole file.")
    from_line: int
    to_line: int = Field(description="The last line counted (at most lines_total).")
    lines: int = Field(description="Lines counted: to_line - from_line, or 0.")
    bytes: int
    sha256: str = Field(description="Of the bytes of those lines, as the download sends them.")


class ThreadPage(_Answer):
    threads: list[Thread]
    next_cursor: str | None


class ThreadCreate(_Request):
    name: Name
    project: Project = ""
    kind: Kind = "note"
    key: Key | None = Field(
        None,
        description="Defaults to the note key of project and name, or with a scope to the "
        "scope key of project and scope.",
    )
    title: Title | None = None
    meta: JsonObject | None = None
    scope: Scope | None = None


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
        None,
        description="Where the conversation is kept and what is searched; absent: all (with "
        "thread: where the conversation's last question searched).",
    )
    all_projects: StrictBool = Field(
        False, description="Search every project (keep it in project): true or false."
    )
    thread: Annotated[str, StringConstraints(max_length=p.MAX_KEY_CHARS), NoNul] | None = Field(
        None, description="The thread_id of an earlier answer: continue that conversation."
    )
    scope: Scope | None = Field(None, description="Search only threads of this scope, TYPE:ID.")
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
    expanded_terms: list[str] = Field(
        default_factory=list,
        description="The model's search words for the question; empty: lexical search alone.",
    )
    searched_project: str | None = Field(
        None,
        description="The project searched; null: every project. A follow-up (thread) naming "
        "no project, all_projects nor scope searches where its conversation's last question did.",
    )
    searched_scope: str | None = Field(None, description="The scope searched, TYPE:ID, if any.")


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
    max_blob_bytes: int = p.MAX_BLOB_BYTES
    max_save_files: int = p.MAX_SAVE_FILES
    max_save_message_chars: int = p.MAX_SAVE_MESSAGE_CHARS


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


# --- hand-off: saves and their blobs ---------------------------------------------------------

#: A blob's name: the SHA-256 of its uncompressed bytes, 64 lowercase hex digits.
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: A git object name: 40 (SHA-1) or 64 (SHA-256 repositories) lowercase hex digits.
CommitId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]
#: A path on the saving machine (a repository root, a working folder, a file).
PathText = Annotated[str, StringConstraints(min_length=1, max_length=p.MAX_PATH_CHARS), NoNul]
Agent = Literal["claude-code", "codex"]
ShortText = Annotated[str, StringConstraints(max_length=p.MAX_KEY_CHARS), NoNul]
WireCount = Annotated[StrictInt, Field(ge=0, le=p.MAX_WIRE_INT)]


class SaveFile(BaseModel):
    """One path of the carried work, as ``git status`` lists it. Keys beyond these three are
    kept as sent (the server stores the list, it does not interpret it)."""

    model_config = ConfigDict(extra="allow")

    path: PathText
    status: Annotated[str, StringConstraints(max_length=32), NoNul]
    mode: Annotated[str, StringConstraints(max_length=16), NoNul] | StrictInt | None = Field(
        None, description='git\'s file mode, e.g. "100644" or "100755"; null when none.'
    )

    @model_validator(mode="after")
    def _extra_without_nul(self) -> SaveFile:
        _no_nul_inside(self.model_extra or {})
        return self


class BlobStored(_Answer):
    """``PUT /api/v1/blobs/{sha256}``: the blob is stored."""

    sha256: str
    size: int = Field(description="Its size in bytes, uncompressed.")


class SaveBlobs(_Request):
    """The blobs of a save by role, each the SHA-256 of an uploaded blob, or ``null``."""

    bundle: Annotated[Sha256 | None, Field(description="A git bundle of unpushed commits.")] = None
    patch: Annotated[Sha256 | None, Field(description="The uncommitted changes.")] = None
    untracked: Annotated[Sha256 | None, Field(description="The untracked files.")] = None


class SaveCreate(_Request):
    """``POST /api/v1/saves``: a session with its git state, idempotent on ``save_id``."""

    save_id: UUID = Field(description="Minted by the client; sending it again is a no-op.")
    thread_id: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul] | None = (
        Field(None, description="The server's thread of the session (one of the caller's).")
    )
    session_id: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
    agent: Agent
    line_count: WireCount = Field(description="Transcript lines captured at the save.")
    remote: Annotated[str, StringConstraints(min_length=1, max_length=p.MAX_PATH_CHARS), NoNul]
    remote_key: Annotated[
        str, StringConstraints(min_length=1, max_length=p.MAX_KEY_CHARS), NoNul
    ] = Field(description="The normalized remote, host/owner/repo.")
    branch: ShortText | None = Field(None, description="null when HEAD is detached.")
    commit: CommitId
    detached: StrictBool = False
    upstream: ShortText | None = None
    message: Annotated[str, NoNul] = Field(
        "", description="At most max_save_message_chars characters."
    )
    device_name: Annotated[str, StringConstraints(max_length=p.MAX_NAME_CHARS), NoNul] = ""
    resumed_from: UUID | None = Field(None, description="The save this work was resumed from.")
    repo_root: PathText = Field(description="The repository's root on the saving machine.")
    cwd: PathText = Field(description="The session's working folder on the saving machine.")
    blobs: SaveBlobs = Field(default_factory=SaveBlobs)
    files: list[SaveFile] = Field(
        default_factory=list, description="At most max_save_files entries."
    )
    excluded: list[PathText] = Field(
        default_factory=list, description="Paths left out (secrets); at most max_save_files."
    )
    created: Timestamp


class SaveBlobRefs(_Answer):
    bundle: str | None
    patch: str | None
    untracked: str | None


class Save(_Answer):
    """A stored save: what was sent, plus ``device`` and when the server received it."""

    save_id: UUID
    thread_id: str | None
    session_id: str
    agent: Agent
    line_count: int
    remote: str
    remote_key: str
    branch: str | None
    commit: str
    detached: bool
    upstream: str | None
    message: str
    device_name: str
    device: str = Field(
        description="device_name, else the name of the device of the token that saved it."
    )
    resumed_from: UUID | None
    repo_root: str
    cwd: str
    blobs: SaveBlobRefs
    files: list[dict[str, Any]]
    excluded: list[str]
    created: datetime
    received_at: datetime


class SavePage(_Answer):
    saves: list[Save]
    next_cursor: str | None


# --- search ----------------------------------------------------------------------------------


class SearchHit(_Answer):
    """One entry found by ``GET /api/v1/search``."""

    thread_id: str
    entry_id: str
    seq: int
    ts: str
    role: str
    snippet: str = Field(description="Plain text around the best match; `…` where cut.")
    score: float = Field(description="Higher is better; 0 for a match inside a word only.")
    url: str = Field(description="Path of the entry in the web UI (relative to the server).")
    thread_title: str | None
    thread_name: str
    project: str
    kind: str
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) offsets of the matches in `snippet`, in Unicode code points."
    )


class SearchResults(_Answer):
    query: str
    results: list[SearchHit]
    next_cursor: str | None
