"""A captured transcript file, byte for byte: what ``GET /api/v1/threads/{id}/transcript``
and the web page's download send (:func:`download`).

A transcript is pushed as one stream per generation of its file, one entry per line (``seq`` is
the line number, ``raw`` the line without its newline). The file is rebuilt from ``raw``:
decoded from base64 when the entry's meta says ``"raw_encoding": "base64"``, followed by
``"\\n"`` unless the meta says ``"eol": false``.

Guarantees:

- Everything that can refuse (the thread, the generation, a stream that is not whole) is
  checked before the answer starts, so those refusals are ordinary error answers.
- The answer is the stream's lines ``1 … tail`` as they were when the request arrived; lines
  appended while it is sent are left for the next download.
- A part of the file can be asked for: the lines after the first ``from_line`` and up to
  ``to_line`` (a client that already holds the first lines downloads only the rest); the
  ``Threadline-Lines-Total`` header always says how many lines the whole file has.
- Lines are read in pages by ``seq``, each in its own short read transaction, with the page's
  row count adapted so that one page holds about :data:`PAGE_BYTES`; memory stays bounded
  whatever the size of the file, and no transaction stays open while the client reads.
- A page that does not continue exactly where the previous one stopped (the thread was deleted
  meanwhile) aborts the answer, so a client never receives a wrong file as a complete one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import NotFound, TranscriptIncomplete
from threadline.protocol.models import TranscriptDigest
from threadline.services.auth import Principal
from threadline.services.threads import live_thread
from threadline.storage.database import Database
from threadline.storage.schema import entries, streams
from threadline.storage.values import json_value

#: Most lines read per query, and the bytes one page should hold about.
PAGE_ROWS = 1000
PAGE_BYTES = 8 * 1024 * 1024
#: Bytes handed to the server per write.
CHUNK_BYTES = 1024 * 1024
MEDIA_TYPE = "application/x-ndjson"
GENERATION_HEADER = "Threadline-Generation"
STREAM_HEADER = "Threadline-Stream-Id"
LINES_TOTAL_HEADER = "Threadline-Lines-Total"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Transcript:
    """A stream chosen for download, with what the answer's headers need."""

    stream_pk: int
    stream_uuid: str
    generation: int
    tail: int
    filename: str


def choose(
    db: Database,
    who: Principal,
    thread_id: str,
    generation: int | None,
    stream: str | None = None,
) -> Transcript:
    """The stream to serve: ``stream`` when named (one of the thread's streams with raw lines),
    else of ``generation``, else of the highest generation with raw lines; among several (one
    per device), the one with the most lines, then the latest change."""
    with db.read() as conn:
        thread = live_thread(conn, who.user_id, thread_id)
        candidates = conn.execute(_candidates(thread_id, db.dialect)).all()
    generations = sorted({row.generation for row in candidates})
    if not candidates:
        raise NotFound(
            f"thread {thread_id} has no transcript (no stream with raw lines)",
            code="no_transcript",
            detail={"generations": []},
        )
    if stream is not None:
        candidates = [row for row in candidates if row.stream_uuid == stream]
        if not candidates:
            raise NotFound(
                f"thread {thread_id} has no transcript stream {stream}",
                code="no_transcript",
                detail={"generations": generations},
            )
        if generation is None:
            generation = candidates[0].generation
    wanted = generations[-1] if generation is None else generation
    rows = [row for row in candidates if row.generation == wanted]
    if not rows:
        raise NotFound(
            f"thread {thread_id} has no transcript of generation {wanted}",
            code="no_transcript",
            detail={"generations": generations},
        )
    best = max(rows, key=lambda r: (r.tail, r.change, r.pk))
    _check_whole(best, thread_id)
    return Transcript(
        best.pk, best.stream_uuid, best.generation, best.tail, filename(thread.meta, thread_id)
    )


@dataclass(frozen=True)
class Download:
    """A transcript answer: its headers (file name, generation, stream id) and its bytes."""

    headers: dict[str, str]
    body: Iterator[bytes]
    media_type: str = MEDIA_TYPE


@dataclass(frozen=True)
class Part:
    """Which stream of a thread's transcript, and which of its lines: the one question a
    download and its digest both answer, so both are asked the same way.

    ``generation`` None means the highest; ``stream`` (a stream id) None means the one
    :func:`choose` picks for ``generation``; the lines are ``from_line + 1 … to_line`` (None:
    the end)."""

    generation: int | None = None
    stream: str | None = None
    from_line: int = 0
    to_line: int | None = None


def download(db: Database, who: Principal, thread_id: str, part: Part = Part()) -> Download:
    """The file of :func:`choose`'s stream (or its lines ``from_line + 1 … to_line``), named,
    with its generation, stream id and whole line count in headers. Everything that can
    refuse is checked before this returns."""
    chosen = choose(db, who, thread_id, part.generation, part.stream)
    headers = {
        "Content-Disposition": f'attachment; filename="{chosen.filename}"',
        GENERATION_HEADER: str(chosen.generation),
        STREAM_HEADER: chosen.stream_uuid,
        LINES_TOTAL_HEADER: str(chosen.tail),
    }
    return Download(headers, lines(db, chosen, part.from_line, part.to_line))


def digest(db: Database, who: Principal, thread_id: str, part: Part = Part()) -> TranscriptDigest:
    """The SHA-256 of the bytes :func:`download` would send for the same ``part``, and how
    many lines and bytes that is — read page by page like a download, sent as one hash."""
    chosen = choose(db, who, thread_id, part.generation, part.stream)
    from_line = part.from_line
    last = chosen.tail if part.to_line is None else min(part.to_line, chosen.tail)
    hasher = hashlib.sha256()
    size = 0
    for chunk in lines(db, chosen, from_line, last):
        hasher.update(chunk)
        size += len(chunk)
    return TranscriptDigest(
        stream_id=uuid.UUID(chosen.stream_uuid),
        generation=chosen.generation,
        lines_total=chosen.tail,
        from_line=from_line,
        to_line=last,
        lines=max(last - from_line, 0),
        bytes=size,
        sha256=hasher.hexdigest(),
    )


def lines(
    db: Database, chosen: Transcript, from_line: int = 0, to_line: int | None = None
) -> Iterator[bytes]:
    """The bytes of lines ``from_line + 1 … to_line`` (default: the whole file) in chunks of
    about :data:`CHUNK_BYTES`, reading page by page. Nothing when ``from_line`` is at or past
    the end."""
    last = chosen.tail if to_line is None else min(to_line, chosen.tail)
    after, limit = max(from_line, 0), PAGE_ROWS
    out: list[bytes] = []
    size = 0
    while after < last:
        with db.read() as conn:
            params = {"pk": chosen.stream_pk, "after": after, "last": last, "n": limit}
            page = conn.execute(_PAGE, params).all()
        if not page:
            raise TranscriptIncomplete(
                f"stream {chosen.stream_uuid} ends at line {after}, not its tail"
            )
        page_bytes = 0
        for seq, raw, meta in page:
            if seq != after + 1 or raw is None:
                raise TranscriptIncomplete(
                    f"stream {chosen.stream_uuid} changed at line {after + 1}"
                )
            line = decode_line(raw, meta)
            after = seq
            page_bytes += len(line)
            out.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield b"".join(out)
                out, size = [], 0
        limit = max(1, min(PAGE_ROWS, limit * PAGE_BYTES // max(page_bytes, 1)))
    if out:
        yield b"".join(out)


def decode_line(raw: str, meta: str | None) -> bytes:
    """One line's bytes in the file, newline included unless it had none."""
    info: Any = json_value(meta) if meta and ('"eol"' in meta or '"raw_encoding"' in meta) else None
    if isinstance(info, dict) and info.get(p.RAW_ENCODING_KEY) == p.RAW_ENCODING_BASE64:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise TranscriptIncomplete("a line marked base64 does not decode") from None
    else:
        data = raw.encode()
    if isinstance(info, dict) and info.get(p.EOL_KEY) is False:
        return data
    return data + b"\n"


def _candidates(thread_id: str, dialect: str) -> sa.Select[Any]:
    """The thread's streams that hold raw lines, with their line counts.

    Counting the lines with ``raw`` must not read the lines: PostgreSQL's ``count(raw)`` looks
    at the null bitmap only, but SQLite's would load every value (overflow pages included),
    while ``typeof(raw)`` reads only the record header there."""
    raw_lines: sa.ColumnElement[Any]
    if dialect == "sqlite":
        has_raw = sa.case((sa.func.typeof(entries.c.raw) == "null", 0), else_=1)
        raw_lines = sa.func.coalesce(sa.func.sum(has_raw), 0)
    else:
        raw_lines = sa.func.count(entries.c.raw)
    return (
        sa.select(
            streams.c.pk,
            streams.c.stream_uuid,
            streams.c.generation,
            streams.c.tail,
            streams.c.change,
            sa.func.count(entries.c.pk).label("lines"),
            raw_lines.label("raw_lines"),
            sa.func.max(entries.c.seq).label("last_seq"),
        )
        .join(entries, entries.c.stream_pk == streams.c.pk)
        .where(streams.c.thread_id == thread_id)
        .group_by(
            streams.c.pk,
            streams.c.stream_uuid,
            streams.c.generation,
            streams.c.tail,
            streams.c.change,
        )
        .having(raw_lines > 0)
    )


def _check_whole(row: Any, thread_id: str) -> None:
    """Seqs are unique per stream and start at 1, so ``count == max == tail`` means 1 … tail
    are all there."""
    if row.lines == row.last_seq == row.tail and row.raw_lines == row.lines:
        return
    raise TranscriptIncomplete(
        f"stream {row.stream_uuid} of thread {thread_id} is not a whole file: "
        f"{row.lines} lines stored ({row.raw_lines} with raw) for a tail of {row.tail}",
        detail={
            "stream_id": row.stream_uuid,
            "tail": row.tail,
            "lines": row.lines,
            "raw_lines": row.raw_lines,
        },
    )


def filename(
    meta: dict[str, Any] | str, thread_id: str, suffix: str = ".jsonl", name: str | None = None
) -> str:
    """A download's file name: ``<session_id><suffix>`` (made safe for a header and a file
    system), else ``<name><suffix>`` when given, else the thread id. ``meta`` is the thread's
    meta, as a mapping or as stored."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {}
    session = meta.get("session_id") if isinstance(meta, dict) else None
    base = session if isinstance(session, str) else name
    stem = _UNSAFE.sub("_", base).strip("._")[:128] if isinstance(base, str) else ""
    return f"{stem or thread_id}{suffix}"


_PAGE = (
    sa.select(entries.c.seq, entries.c.raw, entries.c.meta)
    .where(
        entries.c.stream_pk == sa.bindparam("pk"),
        entries.c.seq > sa.bindparam("after"),
        entries.c.seq <= sa.bindparam("last"),
    )
    .order_by(entries.c.seq)
    .limit(sa.bindparam("n"))
)
