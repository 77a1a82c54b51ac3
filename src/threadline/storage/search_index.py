"""Keeping SQLite's full-text index current, inside the transaction that wrote the entries.

Migration 0005 makes ``entries`` triggers list each new or changed entry in
``entries_search_pending``; :func:`catch_up` moves them into the index and empties the list.
:meth:`Database.write <threadline.storage.database.Database.write>` calls it before every
commit, so no write path can leave an entry out of the index or commit it unindexed.
PostgreSQL needs nothing here: its index is a generated ``tsvector`` column of ``entries``
with a GIN index, and a trigger adds new words to the substring vocabulary (migration 0009),
once per ``INSERT`` statement since migration 0011.

Two tables are written, each with one ``INSERT … SELECT`` for the whole transaction (FTS5
writes a segment per statement, so one statement instead of one per row):

- ``entries_fts``, the words (migration 0005), straight from the view
  ``entries_search_source``;
- ``entries_code`` (migration 0008), the substring index: the *code-like tokens* of an entry
  (:func:`code_text`), computed here in Python — SQL has no regular expressions — and staged
  in a temporary table. Only they are cut into trigrams, not all the text: prose words are
  found by the word index, and their trigrams were most of the cost of every write.

The statements run on the DBAPI cursor of the transaction: through SQLAlchemy they cost about
a tenth of what the index added to a push. Both tables merge 16 segments at a time since
migration 0013: FTS5's merges were much of what a write cost them (most, for the trigrams).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

#: Characters of an entry's text, and of its tool calls, that are indexed (as migration 0005).
INDEXED_CHARS = 100_000
#: A code-like token longer than this is left out of the substring index (base64, minified
#: code); its words are still in the word index.
MAX_CODE_TOKEN_CHARS = 200
#: The roles whose text is prose (the rest is tool output).
PROSE_ROLES = ("user", "assistant")

_PENDING = "SELECT 1 FROM entries_search_pending LIMIT 1"
_WORDS = (
    "INSERT INTO entries_fts(rowid, body, tool) SELECT s.pk, s.body, s.tool "
    "FROM entries_search_pending p JOIN entries_search_source s ON s.pk = p.pk"
)
_SOURCE = (
    "SELECT e.pk, e.role, e.text, e.parts "
    "FROM entries_search_pending p JOIN entries e ON e.pk = p.pk"
)
_STAGE = "CREATE TEMP TABLE IF NOT EXISTS search_code_staged (pk INTEGER PRIMARY KEY, code TEXT)"
_STAGED = "INSERT INTO temp.search_code_staged (pk, code) VALUES (?, ?)"
_CODE = "INSERT INTO entries_code(rowid, code) SELECT pk, code FROM temp.search_code_staged"
_UNSTAGE = "DELETE FROM temp.search_code_staged"
_DONE = "DELETE FROM entries_search_pending"
_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries_search_pending'"
_CODE_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries_code'"
_ASCII_SEPARATORS = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")
_OPENING = "([{<'\"`"
_CLOSING = ")]}>,;:!?.'\"`"
#: Inside a token, any of these makes it code: not a letter, digit or apostrophe.
_CODE_CHAR = re.compile(r"[^\w'’]|_")
_LETTER_AND_DIGIT = re.compile(r"(?=.*\d)(?=.*[^\W\d_])")
_INNER_CAPITAL = re.compile(r".[A-Z]")
_LOWER = re.compile(r"[a-z]")


def has_index(conn: sa.Connection) -> bool:
    """Whether this SQLite database has the search index (migration 0005)."""
    return conn.exec_driver_sql(_EXISTS).first() is not None


def catch_up(conn: sa.Connection) -> None:
    """Index the entries this transaction added or changed (SQLite, after migration 0005).

    Runs on the DBAPI cursor (see the module's doc); a driver error is raised as
    SQLAlchemy's, as if the statements had gone through it."""
    with _cursor(conn) as cursor:
        if cursor.execute(_PENDING).fetchone() is None:
            return
        cursor.execute(_WORDS)
        if cursor.execute(_CODE_TABLE).fetchone() is not None:
            _stage(cursor, cursor.execute(_SOURCE).fetchall())
        cursor.execute(_DONE)


def has_code_index(conn: sa.Connection) -> bool:
    """Whether migration 0008's substring index is there (else 0005's, kept by triggers)."""
    return conn.exec_driver_sql(_CODE_TABLE).first() is not None


def stage_code(conn: sa.Connection, rows: Iterable[Any]) -> None:
    """Put the code-like tokens of ``rows`` (``pk, role, text, parts``) into ``entries_code``
    with one statement; an entry without any takes no room."""
    with _cursor(conn) as cursor:
        _stage(cursor, rows)


@contextlib.contextmanager
def _cursor(conn: sa.Connection) -> Iterator[Any]:
    """The DBAPI cursor of ``conn``'s transaction; its errors raised as SQLAlchemy's."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance("search index upkeep", None, exc, dbapi_error) from exc


def _stage(cursor: Any, rows: Iterable[Any]) -> None:
    staged = []
    for pk, role, text, parts in rows:
        code = code_text(role, text, parts)
        if code:
            staged.append((pk, code))
    if not staged:
        return
    cursor.execute(_STAGE)
    cursor.executemany(_STAGED, staged)
    cursor.execute(_CODE)
    cursor.execute(_UNSTAGE)


# --- what is indexed -------------------------------------------------------------------------


def tool_calls(parts: Any) -> str:
    """Each tool call of ``parts``: its name and its input's scalar values, one call a line."""
    if not isinstance(parts, list):
        return ""
    lines = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "tool_call":
            values = " ".join(_scalars(part.get("input")))
            lines.append(f"{_scalar(part.get('name'))} {values}")
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scalars(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None:
        yield _scalar(value)


def parsed_tool_calls(parts: str | None) -> str:
    """:func:`tool_calls` of the JSON text ``parts`` (nothing when it is not JSON)."""
    if not parts or '"tool_call"' not in parts:
        return ""
    try:
        return tool_calls(json.loads(parts))
    except (ValueError, RecursionError):
        return ""


def code_text(role: str, text: str, parts: str | None) -> str:
    """The code-like tokens of an entry, lower case, each once, one a line: what substring
    search finds things inside.

    The tokens are taken from the text of a prompt or reply and from its tool calls (tool
    output is left out, as in migration 0005), each cut at :data:`INDEXED_CHARS`; a token is a
    run of non-space characters without the brackets, quotes and sentence punctuation around
    it. It is code-like when it holds a character other than a letter, a digit or an
    apostrophe (``os.path.join``, ``src/auth/login.py``, ``snake_case``, ``rate-limit``,
    ``--force``, ``f(x)``), letters and digits both (``sha256``, ``v2``), or a capital after
    its first character beside a small letter (``RateLimiter``, ``getUser``,
    ``JSONDecodeError``). Tokens longer than :data:`MAX_CODE_TOKEN_CHARS` are left out.
    """
    body = text[:INDEXED_CHARS] if role in PROSE_ROLES else ""
    calls = parsed_tool_calls(parts)[:INDEXED_CHARS]
    found: dict[str, None] = {}
    for source in (body, calls):
        for raw in _unplain(source):
            token = raw.lstrip(_OPENING).rstrip(_CLOSING)
            if 2 < len(token) <= MAX_CODE_TOKEN_CHARS and is_code(token):
                found[token.lower()] = None
    return "\n".join(found)


def _unplain(source: str) -> list[str]:
    """The whitespace-separated tokens of ``source`` that may be code: all but words of
    letters only, in lower case or capitalized (most words of prose: plainly not code).

    ASCII text (most of what agents write) is split and tested as bytes, whose tests do not
    look characters up in Unicode's tables: the same tokens, for about a quarter less work.
    ``str.split`` also splits at the four ASCII separators (``\\x1c``–``\\x1f``), so they are
    read as spaces first."""
    if source.isascii():
        return [
            raw.decode()
            for raw in source.encode().translate(_ASCII_SEPARATORS).split()
            if not (raw.isalpha() and (raw.islower() or raw.istitle()))
        ]
    return [
        raw for raw in source.split() if not (raw.isalpha() and (raw.islower() or raw.istitle()))
    ]


def is_code(token: str) -> bool:
    """Whether ``token`` (trimmed, no spaces) is code-like (see :func:`code_text`)."""
    if _CODE_CHAR.search(token) or _LETTER_AND_DIGIT.match(token):
        return True
    return bool(_INNER_CAPITAL.search(token)) and bool(_LOWER.search(token))
