"""Value conversions between the wire and the database, identical on SQLite and PostgreSQL.

Timestamps are stored as UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so text order is
time order on both dialects, and they round-trip to the microsecond. JSON columns are text in
canonical compact JSON (sorted keys). An entry's ``hash`` is the SHA-256 of its
canonical content and decides whether a re-sent entry is an identical duplicate.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from threadline.errors import ValidationFailed


def ts_text(value: datetime) -> str:
    """An aware datetime as sortable UTC text (naive values are taken as UTC)."""
    offset = value.utcoffset()
    if offset is None or not offset:  # naive or already UTC: the common case, no conversion
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(
            f"timestamp {value.isoformat()} is out of range",
            detail={"errors": [{"loc": ["ts"], "msg": "timestamp out of range"}]},
        ) from None
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def ts_parse(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def now_text() -> str:
    return ts_text(datetime.now(UTC))


def json_text(value: Any) -> str | None:
    """Canonical compact JSON (sorted keys), so equal values are equal text and equal hashes."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def json_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def entry_hash(
    entry_id: str,
    ts: str,
    role: str,
    text: str,
    parts: str | None,
    meta: str | None,
    raw: str | None,
) -> str:
    """SHA-256 hex of an entry's canonical content (``parts`` and ``meta`` as
    :func:`json_text`); its position (stream, seq) is not part of it. Each field is written
    with its length (``-`` for null), so no two different entries share the input."""
    head = f"{len(entry_id)}:{entry_id};{len(ts)}:{ts};{len(role)}:{role};{len(text)}:{text};"
    tail = "".join("-;" if f is None else f"{len(f)}:{f};" for f in (parts, meta, raw))
    return hashlib.sha256((head + tail).encode("utf-8", "surrogatepass")).hexdigest()
