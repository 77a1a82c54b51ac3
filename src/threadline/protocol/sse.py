"""Server-sent events: parse a ``text/event-stream`` line by line, and write one event.

Standard library only: the server writes the answers of ``POST /api/v1/ask`` with it, the
``ask`` command reads them, and the language model clients read their endpoints' streams.
Parsing follows the HTML specification's rules for the fields that matter here: ``event``,
``data`` (lines joined with ``\\n``) and ``id``; comments (``:``) and unknown fields are
ignored; a blank line ends an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None = None


def events(lines: Iterable[str]) -> Iterator[Event]:
    """The events of a stream given as lines (with or without their line ends)."""
    name, last_id = "", None
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data), last_id)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            last_id = value
    if data:
        yield Event(name or "message", "\n".join(data), last_id)


def lines_of(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines of a byte stream that arrives in arbitrary chunks (UTF-8)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def encode(event: str, data: str) -> bytes:
    """One event as bytes; ``data`` of several lines is sent as several ``data:`` lines."""
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{body}\n".encode()
