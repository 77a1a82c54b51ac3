"""The checks every route applies to what it is sent, API and web alike.

Whatever reaches a query has passed through here first, so no input can make the database
fail (``500``):

- integers fit a signed 64-bit column (0 … :data:`MAX_INT`), whatever their source (a query
  parameter, a path, a header, a cursor);
- only ASCII digits make a number (``"²".isdigit()`` is true, ``int("²")`` fails);
- text stored or compared in a query has no NUL character (PostgreSQL refuses one in text);
- dates have a day after them (:func:`day_after` is ``None`` for the last representable day).

Each check raises a :mod:`threadline.errors` type naming the input and what to send instead.
"""

from __future__ import annotations

from datetime import date, timedelta

from threadline.errors import BadRequest, ValidationFailed

#: The largest value of a BIGINT column (2⁶³ − 1); ids, sequence numbers and cursors fit it.
MAX_INT = 2**63 - 1
NUL = "\x00"


def fits(value: int) -> bool:
    """Whether ``value`` fits a BIGINT column and is not negative."""
    return 0 <= value <= MAX_INT


def ascii_int(text: str | None) -> int | None:
    """``text`` (surrounding spaces ignored) as a number if it is ASCII digits that fit
    :data:`MAX_INT`, else ``None``."""
    if text is None:
        return None
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_INT else None


def change_cursor(text: str) -> int:
    """A change cursor sent back by a page (``since_change=``): ``400 bad_cursor`` unless
    ASCII digits within :data:`MAX_INT`."""
    value = ascii_int(text)
    if value is None:
        raise bad_cursor("change cursor")
    return value


def bad_cursor(what: str = "cursor") -> BadRequest:
    return BadRequest(
        f"this {what} was not given by this server",
        code="bad_cursor",
        hint="Pass back exactly the cursor of the previous page, or start without one.",
    )


def iso_date(text: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` query value (empty: ``None``); ``400`` naming ``name`` otherwise."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-11-21, not {text[:50]!r}") from None


def day_after(day: date) -> date | None:
    """The day after ``day``; ``None`` for the last day a date can hold (nothing comes later,
    so an upper bound there bounds nothing)."""
    return None if day == date.max else day + timedelta(days=1)


def form_value(name: str, value: str) -> str:
    """A web form's value: ``400`` if it holds a NUL character."""
    if NUL in value or NUL in name:
        raise BadRequest(
            f"the form field {name[:50]!r} contains a NUL character",
            hint="Remove the control character and send the form again.",
        )
    return value


def text(value: str, what: str) -> str:
    """A name or other text to store or look up: ``422`` if it holds a NUL character."""
    if NUL in value:
        raise ValidationFailed(
            f"{what} contains a NUL character",
            hint="Remove the control character.",
            detail={"errors": [{"loc": [what], "msg": "NUL character not allowed"}]},
        )
    return value
