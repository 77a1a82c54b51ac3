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

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts_text(value: datetime) -> str:
    """An aware datetime as sortable UTC text (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(TS_FORMAT)


def ts_parse(text: str) -> datetime:
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


def now_text() -> str:
    return datetime.now(UTC).strftime(TS_FORMAT)


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
    :func:`json_text`); its position (stream, seq) is not part of it."""
    canonical = json.dumps([entry_id, ts, role, text, parts, meta, raw], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
