"""Waiting on a condition instead of sleeping: the one polling helper of the tests.

Standard library only, so :mod:`tests.helpers.server` (which benchmarks import too) can use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    interval: float = 0.02,
    *,
    what: str | None = None,
) -> float:
    """Poll until ``predicate()`` is true; return the seconds it took.

    Raises :class:`AssertionError` naming ``what`` was awaited (or the predicate) if it is not
    true within ``timeout`` seconds. An exception from ``predicate`` ends the wait at once.
    """
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            awaited = what or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"waited {timeout} s for {awaited}, in vain")
        time.sleep(interval)
