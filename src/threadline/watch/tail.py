"""Read transcript files into the local store, incrementally and exactly once.

:class:`Tailer` reads a file from the offset where it stopped, parses each new complete line
with the agent's parser, and stores the lines (``seq`` = line number) with the new offset in
one transaction per chunk. A trailing partial line waits for its ``\\n``. Before reading on, it
checks that the file is still the one it read: a file that shrank, or whose first line or last
read line changed, was rewritten and starts a new generation from line 1.

Parsers carry state across lines (usage counted once per message, sidechain roots), so the
tailer keeps one per file; after a restart it rebuilds it by replaying the lines already read.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from threadline.config import derive_project
from threadline.sources.detect import SOURCES, detect
from threadline.sources.lines import LineSplitter, open_binary
from threadline.sources.model import Agent, ParsedLine, Parser
from threadline.store import transcripts as store
from threadline.store.notes import utc_now
from threadline.watch.session import empty_summary, entry_row, merge_summary, thread_spec

#: A chunk (one transaction) holds at most this many lines or raw bytes.
CHUNK_LINES = 2000
CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class IngestResult:
    path: Path
    lines: int = 0
    bytes: int = 0
    new_generation: bool = False
    excluded: str | None = None
    gone: bool = False
    malformed: int = 0


class Exclusions:
    """Globs of projects, working folders or paths that are never captured.

    A glob matches a value if :func:`fnmatch.fnmatchcase` says so, or if the value is inside a
    folder the glob matches (``~/secret`` covers ``~/secret/app``)."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = [os.path.expanduser(p) for p in patterns if p]

    def match(self, *values: str | None) -> str | None:
        for pattern in self.patterns:
            folder = pattern.rstrip("/") + "/*"
            for value in values:
                if value and (
                    fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(value, folder)
                ):
                    return pattern
        return None


@dataclass(frozen=True, slots=True)
class _Marks:
    """How to spot a rewrite: the hash and length of the file's first line and of the last
    line read (``None`` and 0 until there is one)."""

    head_hash: str | None = None
    head_len: int = 0
    tail_hash: str | None = None
    tail_len: int = 0

    @classmethod
    def of(cls, row: Any) -> _Marks:
        """The marks stored in a source row."""
        return cls(row["head_hash"], int(row["head_len"]), row["tail_hash"], int(row["tail_len"]))


@dataclass(frozen=True, slots=True)
class _Position:
    """Where the next chunk is read: the stored state it builds on (``base_generation`` and
    ``base_offset``, 0 and 0 for none), and the generation, byte offset and line count it
    continues."""

    base_generation: int
    base_offset: int
    generation: int
    offset: int
    lines: int


@dataclass(slots=True)
class _Cursor:
    generation: int
    offset: int
    parser: Parser


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class _Reader:
    """A transcript file opened once per ingest and read at any offset. A compressed file
    cannot seek: it is read forward, and opened again only to go back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: IO[bytes] | None = None
        self._pos: int | None = 0  # where a forward-only stream is; None: unknown

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.close()

    def read(self, offset: int, length: int) -> bytes:
        """At most ``length`` bytes from ``offset`` (fewer at the end of the file)."""
        data = self._at(offset).read(length)
        self._pos = offset + len(data)
        return data

    def lines(self, offset: int) -> LineSplitter:
        """The complete lines from ``offset`` on."""
        splitter = LineSplitter(self._at(offset))
        self._pos = None  # the splitter reads ahead
        return splitter

    def _at(self, offset: int) -> IO[bytes]:
        stream = self._stream
        if stream is None or (not stream.seekable() and (self._pos is None or offset < self._pos)):
            if stream is not None:
                stream.close()
            stream = self._stream = open_binary(self.path)
            self._pos = 0
        if stream.seekable():
            stream.seek(offset)
        else:
            _skip(stream, offset - (self._pos or 0))
        self._pos = offset
        return stream


def _skip(stream: IO[bytes], offset: int) -> None:
    """Read ``offset`` bytes of a stream that cannot seek, and drop them."""
    left = offset
    while left > 0:
        data = stream.read(min(left, 1 << 20))
        if not data:
            break
        left -= len(data)


class Tailer:
    """Reads transcript files into the local store (see the module documentation)."""

    def __init__(
        self,
        conn: Any,
        exclusions: Exclusions | None = None,
        *,
        chunk_lines: int = CHUNK_LINES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.conn = conn
        self.exclusions = exclusions or Exclusions()
        self.chunk_lines = chunk_lines
        self.chunk_bytes = chunk_bytes
        self._cursors: dict[str, _Cursor] = {}
        self._projects: dict[str, str] = {}

    def ingest(self, path: Path, agent: Agent | None = None) -> IngestResult:
        """Store the new complete lines of ``path``; safe to call at any time, any number of
        times, from any number of processes."""
        path = Path(os.path.abspath(path))
        for _ in range(5):
            try:
                return self._ingest(path, agent)
            except store.Stale:
                self._cursors.pop(str(path), None)
        return self._ingest(path, agent)

    def forget(self, path: Path) -> None:
        self._cursors.pop(str(path), None)

    def _ingest(self, path: Path, agent: Agent | None) -> IngestResult:
        key = str(path)
        result = IngestResult(path)
        row = store.get_source(self.conn, key)
        try:
            st = path.stat()
        except FileNotFoundError:
            if row is not None and row["status"] != store.GONE:
                store.mark_source(self.conn, key, row["agent"], store.GONE)
            self._cursors.pop(key, None)
            result.gone = True
            return result
        status = None if row is None else row["status"]
        active = status in (store.ACTIVE, store.GONE)
        unchanged = row is not None and (row["size"], row["mtime_ns"], row["inode"]) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
        )
        if status == store.ACTIVE and unchanged:
            return result
        agent = agent or (row["agent"] if row is not None else None) or detect(path)
        if agent is None:
            return result  # empty, or not yet enough to tell: wait for more lines
        if pattern := self.exclusions.match(key):
            return self._exclude(key, agent, st, pattern, result)
        base_generation, base_offset = (
            (int(row["generation"]), int(row["offset"])) if active and row else (0, 0)
        )
        summary: dict[str, Any] = empty_summary()
        marks = _Marks()
        position = _Position(base_generation, base_offset, max(base_generation, 1), 0, 0)
        with _Reader(path) as reader:
            if base_generation and row is not None:
                if self._rewritten(reader, st.st_size, row):
                    position = replace(position, generation=base_generation + 1)
                    result.new_generation = True
                else:
                    position = replace(position, offset=base_offset, lines=int(row["lines"]))
                    summary = json.loads(row["summary"] or "{}") or summary
                    marks = _Marks.of(row)
            cursor = self._cursor(reader, agent, position.generation, position.offset)
            for chunk in self._chunks(reader.lines(position.offset), cursor.parser):
                stored = self._store(path, agent, st, chunk, summary, marks, result, position)
                if stored is None:
                    return result  # excluded
                position, marks = stored
        if result.lines == 0 and row is not None and not result.new_generation:
            store.note_seen(self.conn, key, st.st_size, st.st_mtime_ns)
        return result

    def _chunks(
        self, lines: Iterable[bytes], parser: Parser
    ) -> Iterator[list[tuple[ParsedLine, bytes]]]:
        """Parsed lines in chunks of at most ``chunk_lines`` lines or about ``chunk_bytes``."""
        chunk: list[tuple[ParsedLine, bytes]] = []
        size = 0
        for line in lines:
            chunk.append((parser.parse(line), line))
            size += len(line) + 1
            if len(chunk) >= self.chunk_lines or size >= self.chunk_bytes:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    def _store(
        self,
        path: Path,
        agent: Agent,
        st: os.stat_result,
        chunk: list[tuple[ParsedLine, bytes]],
        summary: dict[str, Any],
        marks: _Marks,
        result: IngestResult,
        position: _Position,
    ) -> tuple[_Position, _Marks] | None:
        """Store one chunk read at ``position``; return where the next one is read and the
        marks now stored, or ``None`` if the file turned out to be excluded."""
        parsed = [p for p, _ in chunk]
        summary.update(merge_summary(summary, SOURCES[agent].summarize(parsed, path)))
        project = self._project(summary.get("cwd"))
        if pattern := self.exclusions.match(project, summary.get("cwd")):
            self._exclude(str(path), agent, st, pattern, result)
            return None
        size = sum(len(line) + 1 for _, line in chunk)
        if position.offset == 0:
            first = chunk[0][1] + b"\n"
            marks = replace(marks, head_hash=_hash(first), head_len=len(first))
        last = chunk[-1][1] + b"\n"
        marks = replace(marks, tail_hash=_hash(last), tail_len=len(last))
        fallback = summary.get("last_activity") or utc_now()
        rows = []
        for line in parsed:
            rows.append(entry_row(line, fallback))
            fallback = rows[-1][1]
        generation, offset = position.generation, position.offset + size
        after = _Position(generation, offset, generation, offset, position.lines + len(chunk))
        store.store_chunk(
            self.conn,
            store.Chunk(
                path=str(path),
                agent=agent,
                base_offset=position.base_offset,
                base_generation=position.base_generation,
                thread=thread_spec(agent, summary, path, project),
                state=store.FileState(
                    generation=generation,
                    offset=offset,
                    lines=after.lines,
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    inode=st.st_ino,
                    summary=summary,
                    head_hash=marks.head_hash,
                    head_len=marks.head_len,
                    tail_hash=marks.tail_hash,
                    tail_len=marks.tail_len,
                ),
                entries=rows,
            ),
        )
        self._cursors[str(path)] = _Cursor(generation, offset, self._cursors[str(path)].parser)
        result.lines += len(chunk)
        result.bytes += size
        result.malformed += sum(1 for p in parsed if p.malformed)
        return after, marks

    def _exclude(
        self, key: str, agent: str, st: os.stat_result, pattern: str, result: IngestResult
    ) -> IngestResult:
        store.mark_source(
            self.conn,
            key,
            agent,
            store.EXCLUDED,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            error=f"excluded by {pattern}",
        )
        self._cursors.pop(key, None)
        result.excluded = pattern
        return result

    def _rewritten(self, reader: _Reader, size: int, row: Any) -> bool:
        offset = int(row["offset"])
        if not reader.path.name.endswith(".zst") and size < offset:
            return True
        head_len, tail_len = int(row["head_len"]), int(row["tail_len"])
        if head_len and _hash(reader.read(0, head_len)) != row["head_hash"]:
            return True
        return bool(
            tail_len and _hash(reader.read(offset - tail_len, tail_len)) != row["tail_hash"]
        )

    def _cursor(self, reader: _Reader, agent: Agent, generation: int, offset: int) -> _Cursor:
        """The file's parser, positioned at ``offset`` (replaying the lines before it)."""
        key = str(reader.path)
        cached = self._cursors.get(key)
        if cached is not None and (cached.generation, cached.offset) == (generation, offset):
            return cached
        parser: Parser = SOURCES[agent].parser()
        if offset:
            read = 0
            for line in reader.lines(0):
                if read >= offset:
                    break
                parser.parse(line)
                read += len(line) + 1
        cursor = self._cursors[key] = _Cursor(generation, offset, parser)
        return cursor

    def _project(self, cwd: str | None) -> str:
        if not cwd:
            return ""
        project = self._projects.get(cwd)
        if project is None:
            folder = Path(cwd)
            project = derive_project(folder)[0] if folder.is_dir() else folder.name
            self._projects[cwd] = project
        return project
