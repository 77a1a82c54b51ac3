"""Splitting a transcript into complete lines, decoding each one, and what every agent's
parser shares (:class:`LineParser`).

Lines end at ``b"\\n"`` only (a ``\\r`` stays part of the line). A last line without ``\\n`` is
kept aside as ``partial``: the agent may still be writing it. ``.zst`` files (compressed Codex
rollouts) are decompressed while streaming.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from threadline.sources.model import ParsedLine, SessionInfo

CHUNK = 1 << 20
#: A title taken from a prompt is cut to this many characters.
TITLE_CHARS = 200


class LineSplitter:
    """Iterate over the complete lines of a binary stream (without ``\\n``).

    After the iteration ``partial`` holds the trailing bytes that had no ``\\n`` (or ``None``),
    and ``complete_bytes`` the length of the complete lines including their newlines.
    """

    def __init__(self, stream: IO[bytes], chunk_size: int = CHUNK) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self.partial: bytes | None = None
        self.complete_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        buffer = bytearray()
        while chunk := self._stream.read(self._chunk_size):
            search_from = len(buffer)
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", max(start, search_from))) != -1:
                yield bytes(buffer[start:end])
                self.complete_bytes += end + 1 - start
                start = end + 1
            del buffer[:start]
        self.partial = bytes(buffer) if buffer else None


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes; ``*.zst`` is decompressed on the fly."""
    handle = path.open("rb")
    if path.name.endswith(".zst"):
        import zstandard  # only compressed rollouts need it

        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(handle, closefd=True)
        return reader
    return handle


def decode_raw(line: bytes) -> str | bytes:
    """The line as text, or the bytes themselves when they are not valid UTF-8."""
    if line.endswith(b"\n"):
        line = line[:-1]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line


def load_object(raw: str | bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse one line as a JSON object: ``(object, None)`` or ``(None, error message)``."""
    if isinstance(raw, bytes):
        return None, "not valid UTF-8"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"not a JSON object: {type(value).__name__}"
    return value, None


def as_str(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int:
    """``value`` if it is an int (not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def image_part(media_type: str | None, data: Any) -> dict[str, Any]:
    """A placeholder for an image: its media type and decoded size, never the data."""
    size = 0
    if isinstance(data, str):
        payload = data.split(",", 1)[1] if data.startswith("data:") else data
        size = len(payload) * 3 // 4 - payload[-2:].count("=")
    return {"type": "image", "media_type": media_type, "size": max(size, 0)}


def media_type_of_data_url(url: Any) -> str | None:
    """``image/png`` from ``data:image/png;base64,…``; ``None`` for anything else."""
    if isinstance(url, str) and url.startswith("data:"):
        return url[5:].split(";", 1)[0].split(",", 1)[0] or None
    return None


def malformed_line(line_no: int, raw: str | bytes, error: str | None) -> ParsedLine:
    """A line that is not a JSON object: kept byte for byte, flagged, never dropped."""
    return ParsedLine(
        line_no=line_no,
        raw=raw,
        record_type="malformed",
        parts=[{"type": "meta", "record": "malformed"}],
        malformed=True,
        error=error,
    )


class LineParser(ABC):
    """One agent's parser, fed one complete line at a time; keep one per file, since parsers
    remember what spans lines.

    It numbers the lines and keeps those that are not a JSON object as ``malformed``; the
    agent's subclass projects the objects (:meth:`parse_object`)."""

    def __init__(self, first_line_no: int = 1) -> None:
        self.next_line_no = first_line_no

    def parse(self, line: bytes) -> ParsedLine:
        """Parse one complete line (without or with its ``\\n``)."""
        line_no = self.next_line_no
        self.next_line_no += 1
        raw = decode_raw(line)
        obj, error = load_object(raw)
        if obj is None:
            return malformed_line(line_no, raw, error)
        return self.parse_object(line_no, raw, obj)

    @abstractmethod
    def parse_object(self, line_no: int, raw: str | bytes, obj: dict[str, Any]) -> ParsedLine:
        """The projection of line ``line_no``, whose text ``raw`` is the JSON object ``obj``."""

    @classmethod
    def parse_lines(cls, lines: Iterable[bytes], first_line_no: int = 1) -> Iterator[ParsedLine]:
        """Parse complete lines with a new parser; ``line_no`` counts from ``first_line_no``."""
        parser = cls(first_line_no)
        for line in lines:
            yield parser.parse(line)


def joined_text(parts: list[dict[str, Any]]) -> str:
    """The ``text`` parts, joined with newlines."""
    return "\n".join(str(part["text"]) for part in parts if part["type"] == "text")


def title_from_prompt(text: str) -> str:
    """The first non-empty line of a prompt, cut to ``TITLE_CHARS``."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:TITLE_CHARS]
    return text.strip()[:TITLE_CHARS]


def parse_path(
    path: Path | str,
    parse_lines: Callable[[Iterable[bytes]], Iterator[ParsedLine]],
    summarize: Callable[[list[ParsedLine], Path], SessionInfo],
) -> tuple[list[ParsedLine], SessionInfo]:
    """Parse a whole file with one agent's parser; a last line without ``\\n`` is left out
    and reported as ``SessionInfo.partial`` (complete lines end at ``complete_bytes``)."""
    path = Path(path)
    with open_binary(path) as stream:
        splitter = LineSplitter(stream)
        parsed = list(parse_lines(splitter))
    info = summarize(parsed, path)
    info.complete_bytes = splitter.complete_bytes
    info.partial = splitter.partial
    return parsed, info
