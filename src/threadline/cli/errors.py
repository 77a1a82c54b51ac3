"""How the CLI shows a :class:`~threadline.errors.ThreadlineError`: ``Error:`` and ``Hint:``."""

from __future__ import annotations

import sys

from threadline.errors import ThreadlineError


def report(exc: ThreadlineError) -> int:
    """Print the error and its hint on stderr and return the exit status (1)."""
    sys.stderr.write(f"Error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"Hint: {exc.hint}\n")
    return 1
