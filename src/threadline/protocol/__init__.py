"""Sync protocol v1: the constants both sides agree on.

Standard library only, because the ``push`` hot path imports it. The wire models that validate
bodies live in :mod:`threadline.protocol.models` (pydantic); ``docs/protocol.md`` is the prose.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ≈2 ms of imports on the push hot path
    from typing import Any

PROTOCOL_VERSION = 1
API_PREFIX = "/api/v1"
#: Sent by clients on every request and by the server on every answer.
VERSION_HEADER = "Threadline-Protocol"

ROLES = ("user", "assistant", "system", "tool")
KINDS = ("note", "claude-code", "codex", "ask")

#: Default limits; the server's are configurable and published by ``/api/v1/capabilities``.
#: One transcript line can be several MB (Claude Code stores whole API requests in some).
MAX_ENTRY_BYTES = 32 * 1024 * 1024
MAX_BATCH_BYTES = 64 * 1024 * 1024
MAX_BATCH_ENTRIES = 10_000
MAX_PAGE_SIZE = 500
#: What one pushed note (``threadline push``) may hold; checked on the client.
MAX_NOTE_BYTES = 1024 * 1024
DEFAULT_PAGE_SIZE = 100
#: ``GET /api/v1/search``: the longest query (characters), and results per page.
MAX_SEARCH_QUERY_CHARS = 500
MAX_SEARCH_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 20
MAX_NAME_CHARS = 200
MAX_PROJECT_CHARS = 200
MAX_TITLE_CHARS = 500
MAX_KEY_CHARS = 600
#: The largest integer on the wire (a ``seq``, a ``generation``, a cursor): what a BIGINT holds.
MAX_WIRE_INT = 2**63 - 1
#: Compact JSON bytes a thread's ``meta`` may hold (checked after merging on the server).
MAX_THREAD_META_BYTES = 64 * 1024
#: Characters of a stream's ``source`` (the transcript file's path on the device).
MAX_SOURCE_CHARS = 4096
#: A thread's scope is ``TYPE:ID``: the type 1–32 of ``a-z 0-9 -``, the id 1–512 characters.
MAX_SCOPE_TYPE_CHARS = 32
MAX_SCOPE_ID_CHARS = 512
#: UTF-8 bytes a scope id may hold, so that project, type and id fit one PostgreSQL index row.
MAX_SCOPE_ID_BYTES = 1024

#: ``POST /api/v1/ask``: characters of a question; UTF-8 bytes of the file content sent with
#: ``about``, and characters of its path.
MAX_QUESTION_CHARS = 2000
MAX_ABOUT_BYTES = 64 * 1024
MAX_ABOUT_PATH_CHARS = 512

ENCODINGS = ("zstd", "gzip")

#: Hand-off (saves and their blobs). A blob is at most this many bytes, uncompressed.
MAX_BLOB_BYTES = 100 * 1024 * 1024
#: Entries of a save's ``files`` (and, separately, of its ``excluded``).
MAX_SAVE_FILES = 50_000
#: Characters of a save's ``message``.
MAX_SAVE_MESSAGE_CHARS = 10_000
#: Characters of a path on the wire (a repository root, a working folder, a file).
MAX_PATH_CHARS = 4096
#: What a save's blobs hold: a git bundle, a binary patch, the untracked files.
BLOB_ROLES = ("bundle", "patch", "untracked")
#: The agents whose sessions can be saved.
AGENTS = ("claude-code", "codex")

#: Stream status values in a push answer.
STREAM_OK = "ok"
STREAM_THREAD_DELETED = "thread_deleted"

#: Entry ``meta`` of a transcript line: ``raw`` holds base64 of the line's exact bytes.
RAW_ENCODING_KEY = "raw_encoding"
RAW_ENCODING_BASE64 = "base64"
#: Entry ``meta`` of a transcript line: ``false`` when the line had no trailing newline.
EOL_KEY = "eol"

#: Error codes the sync engine acts on.
CODE_SEQ_GAP = "seq_gap"
CODE_ENTRY_CONFLICT = "entry_conflict"
CODE_ENTRY_TOO_LARGE = "entry_too_large"
CODE_BATCH_TOO_LARGE = "batch_too_large"
CODE_INVALID_REQUEST = "invalid_request"
#: Error codes of the hand-off routes.
CODE_BLOB_TOO_LARGE = "blob_too_large"
CODE_SHA256_MISMATCH = "sha256_mismatch"
CODE_MISSING_BLOB = "missing_blob"
CODE_SAVE_CONFLICT = "save_conflict"
CODE_SAVE_TOO_LARGE = "save_too_large"
CODE_UNKNOWN_THREAD = "unknown_thread"


def entry_path(thread_id: str, entry_id: str) -> str:
    """The web page of a thread opened at one entry, as search hits, ask's citations and the
    MCP tools link it: ``?around=`` loads the page that holds the entry, and the fragment is the
    entry's own element id (``entry-<id>``), so the browser scrolls to it even without script."""
    return f"/threads/{thread_id}?around={entry_id}#entry-{entry_id}"


def note_thread_key(project: str, name: str) -> str:
    """The key that makes a note thread the same thread on every device of a user."""
    return f"note:{project}:{name}"


def parse_scope_type(text: str) -> str:
    """A scope's type on its own (``pr``), as :func:`parse_scope` checks it (so ``pr:123``
    is no type: it has a ``:``), or :class:`ValueError` naming the rule."""
    if ":" in text:
        raise ValueError(f"a scope type has no ':' — {_shown(text)} is a whole scope, TYPE:ID")
    return parse_scope(f"{text}:x")[0]


def parse_scope(text: str) -> tuple[str, str]:
    """``(type, id)`` of a scope written ``TYPE:ID`` (split at the first ``:``), or
    :class:`ValueError` naming the rule it breaks.

    The type is 1–:data:`MAX_SCOPE_TYPE_CHARS` lowercase ASCII letters, digits and hyphens;
    the id 1–:data:`MAX_SCOPE_ID_CHARS` characters and at most :data:`MAX_SCOPE_ID_BYTES`
    bytes of UTF-8, none of them a control character (C0, DEL, C1: NUL, tab and newline
    included) or a lone surrogate, and no white space at either end.
    """
    kind, colon, ident = text.partition(":")
    if not colon:
        raise ValueError(f"a scope is TYPE:ID, e.g. pr:123 — {_shown(text)} has no ':'")
    if not 1 <= len(kind) <= MAX_SCOPE_TYPE_CHARS or any(c not in _TYPE_CHARS for c in kind):
        raise ValueError(
            f"the scope type {_shown(kind)} must be 1–{MAX_SCOPE_TYPE_CHARS} characters of "
            "lowercase letters a-z, digits 0-9 and '-'"
        )
    if not 1 <= len(ident) <= MAX_SCOPE_ID_CHARS:
        raise ValueError(
            f"the scope id must be 1–{MAX_SCOPE_ID_CHARS} characters, not {len(ident)}"
        )
    for char in ident:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            raise ValueError(
                f"the scope id must be printable text: it holds the control character U+{code:04X}"
            )
    if ident != ident.strip():
        raise ValueError("the scope id must not begin or end with white space")
    size = len(ident.encode("utf-8"))
    if size > MAX_SCOPE_ID_BYTES:
        raise ValueError(
            f"the scope id must be at most {MAX_SCOPE_ID_BYTES} bytes in UTF-8, not {size}"
        )
    return kind, ident


#: What a scope type may be made of.
_TYPE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut at 50 characters."""
    return repr(text[:50] + ("…" if len(text) > 50 else ""))


def scope_thread_key(project: str, scope_type: str, scope_id: str) -> str:
    """The key of the thread of a scope in a project, the same on every device of a user:
    ``scope:<type>:<sha256>``, the SHA-256 (hex) of the compact JSON ``[project, type, id]``.

    Hashed because a project and an id together may be longer than a key, and no separator
    could keep ``project`` and ``id`` (both free text) apart."""
    import hashlib  # ≈4 ms: only a scoped push pays it

    material = compact_json([project, scope_type, scope_id]).encode("utf-8")
    return f"scope:{scope_type}:{hashlib.sha256(material).hexdigest()}"


def compact_json(value: Any) -> str:
    """The compact JSON both sides measure and hash: no spaces, UTF-8 kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def entry_size(text: str, raw: str | None, parts: Any, meta: Any) -> int:
    """What ``max_entry_bytes`` limits: UTF-8 bytes of ``text`` + ``raw`` + compact JSON of
    ``parts`` + compact JSON of ``meta``; an absent (``None``) field counts 0."""
    size = len(text.encode())
    if raw is not None:
        size += len(raw.encode())
    if parts is not None:
        size += len(compact_json(parts).encode())
    if meta is not None:
        size += len(compact_json(meta).encode())
    return size
