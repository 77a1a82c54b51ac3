"""Citation markers in a model's answer, mapped back to the passages it was given.

A marker is ``[n]`` or ``[n, m]`` (not right after a letter or digit, so ``items[1]`` in
code is left alone). Numbers of passages that were given are kept; any other number — one the
model invented — is removed from the answer, and a marker left empty disappears.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"(?P<space>[ \t]*)(?<![\w])\[(?P<numbers>\s*\d{1,4}(?:\s*,\s*\d{1,4})*\s*)\]")


def resolve(text: str, given: int) -> tuple[str, list[int]]:
    """``text`` without markers of numbers outside ``1 … given``, and the numbers it cites (in
    order of first appearance, each once)."""
    cited: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in match.group("numbers").split(",")]
        valid = [n for n in numbers if 1 <= n <= given]
        for n in valid:
            if n not in cited:
                cited.append(n)
        if not valid:
            return ""
        return match.group("space") + f"[{', '.join(str(n) for n in valid)}]"

    return _MARKER.sub(keep, text), cited
