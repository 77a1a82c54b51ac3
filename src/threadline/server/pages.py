"""Opaque pagination cursors: URL-safe base64 of a small JSON list of the last row's sort key.

A cursor only ever comes back from the server, so anything that does not decode to the expected
shape is ``400 bad_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from threadline.errors import BadRequest


def encode(*key: str | int) -> str:
    data = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key inside ``cursor``, checked against ``types``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_cursor() from None
    if not isinstance(values, list) or len(values) != len(types):
        raise bad_cursor()
    for value, expected in zip(values, types, strict=True):
        if type(value) is not expected:
            raise bad_cursor()
    return tuple(values)


def bad_cursor(what: str = "cursor") -> BadRequest:
    return BadRequest(
        f"this {what} was not given by this server",
        code="bad_cursor",
        hint="Pass back exactly the cursor of the previous page, or start without one.",
    )
