"""Opaque pagination cursors: URL-safe base64 of a small JSON list of the last row's sort key.

A cursor only ever comes back from the server, so anything that does not decode to the expected
shape is ``400 bad_cursor``: malformed base64 or JSON, nesting of any depth, the wrong number or
types of values, an integer outside 0 … 2⁶³ − 1 or a text with a NUL character (neither could
reach a query).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from threadline.services.inputs import NUL, bad_cursor, fits

#: Longest cursor accepted: the ones this server gives are well under 200 characters.
MAX_CURSOR_CHARS = 1024


def encode(*key: str | int) -> str:
    data = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key inside ``cursor``, checked against ``types``."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise bad_cursor() from None
    if not isinstance(values, list) or len(values) != len(types):
        raise bad_cursor()
    for value, expected in zip(values, types, strict=True):
        if type(value) is not expected or not _storable(value):
            raise bad_cursor()
    return tuple(values)


def _storable(value: Any) -> bool:
    if isinstance(value, int):
        return fits(value)
    return not (isinstance(value, str) and NUL in value)
