"""Golden files under ``tests/golden/``: what the client sends and the server answers, and what
the web UI renders, pinned byte for byte after the values that change from run to run are
replaced by stable placeholders.

Placeholders (:class:`Placeholders`):

- a UUID that is not in the hand-written data (``tests/golden/data``) — entry, stream, thread
  and device ids minted during the run — becomes ``<uuid-N>``, numbered by first appearance, so
  the same id in a request and in its answer gets the same placeholder;
- an RFC 3339 timestamp whose instant is not in the hand-written data (the time of a ``push``)
  becomes ``<ts>`` (one that is, in whatever form, such as ``.000000Z`` or ``+00:00``, stays);
- any literal registered with :meth:`Placeholders.literal` (a temporary folder, a CSRF token)
  becomes the name it was registered with.

So UUIDs and times written in the hand-written transcripts stay as they are.

Set ``THREADLINE_UPDATE_GOLDEN=1`` to rewrite the files after a deliberate change, then review
the diff; it is refused under ``CI=true``, where rewriting would check nothing.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DATA = GOLDEN / "data"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def _data_values(pattern: re.Pattern[str]) -> set[str]:
    found: set[str] = set()
    for path in DATA.rglob("*"):
        found.update(pattern.findall(str(path.relative_to(DATA))))
        if path.is_file():
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


class Placeholders:
    """Replaces run-to-run values in strings and JSON values (see the module docstring)."""

    def __init__(self) -> None:
        self.uuids: dict[str, str] = {}
        self.literals: list[tuple[str, str]] = []
        self._fixed_uuids = _data_values(UUID)
        self._fixed_times = {_instant(t) for t in _data_values(TIMESTAMP)}

    def literal(self, value: str, name: str) -> None:
        """Replace ``value`` wherever it occurs by ``name`` (longest values first)."""
        self.literals.append((value, name))
        self.literals.sort(key=lambda item: -len(item[0]))

    def text(self, value: str) -> str:
        for literal, name in self.literals:
            value = value.replace(literal, name)
        value = UUID.sub(self._uuid, value)
        return TIMESTAMP.sub(self._time, value)

    def json(self, value: Any) -> Any:
        """``value`` with every string (keys too) passed through :meth:`text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        return value

    def _uuid(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found in self._fixed_uuids:
            return found
        return self.uuids.setdefault(found, f"<uuid-{len(self.uuids) + 1}>")

    def _time(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return found if _instant(found) in self._fixed_times else "<ts>"


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``tests/golden/<name>`` (or rewrite the file when asked)."""
    check_golden_file(GOLDEN / name, actual)


def check_golden_file(path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file ``path``; with ``THREADLINE_UPDATE_GOLDEN=1``
    (refused under ``CI=true``) rewrite it instead. A difference fails with a unified diff."""
    if os.environ.get("THREADLINE_UPDATE_GOLDEN") == "1":
        if os.environ.get("CI") == "true":
            pytest.fail("THREADLINE_UPDATE_GOLDEN=1 under CI=true: rewriting checks nothing")
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run with THREADLINE_UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"golden/{path.name}",
            "produced",
        )
        pytest.fail(
            f"{path} differs from what was produced (a deliberate change: rerun with "
            f"THREADLINE_UPDATE_GOLDEN=1 and review it):\n{''.join(diff)}"
        )


def check_golden_json(name: str, actual: Any) -> None:
    """:func:`check_golden` for a JSON value, written indented with sorted keys."""
    check_golden(name, json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
