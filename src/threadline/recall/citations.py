"""Citation markers in a model's answer, mapped back to the passages it was given.

A marker is ``[n]`` or ``[n, m]`` (not right after a letter or digit, so ``items[1]`` in
code is left alone). Numbers of passages that were given are kept; any other number — one the
model invented — is removed from the answer, and a marker left empty disappears.
:class:`Streamed` does the same to an answer as it streams, so what a reader sees as it is
written holds no invented number either.
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


#: The end of a text that may be the start of a marker still being written: blanks, then
#: ``[`` and what a marker holds, unclosed (or only the blanks).
_OPEN_MARKER = re.compile(r"[ \t]*(?:\[[\d\s,]*)?\Z")


class Streamed:
    """:func:`resolve` over an answer that arrives in pieces: :meth:`feed` gives back the text
    that can be shown now — everything but an end that may still become a marker (held back
    until the next piece tells) — with invented numbers removed; :meth:`end` gives the rest.
    The pieces given back, joined, are what :func:`resolve` makes of the whole text."""

    def __init__(self, given: int) -> None:
        self.given = given
        self.held = ""
        #: The last character given back: whether a ``[`` follows a letter (``items[1]``).
        self.before = ""

    def feed(self, piece: str) -> str:
        self.held += piece
        start = _OPEN_MARKER.search(self.held)
        cut = start.start() if start is not None else len(self.held)
        ready, self.held = self.held[:cut], self.held[cut:]
        return self._resolved(ready)

    def end(self) -> str:
        ready, self.held = self.held, ""
        return self._resolved(ready)

    def _resolved(self, text: str) -> str:
        if not text:
            return ""
        out = resolve(self.before + text, self.given)[0][len(self.before) :]
        self.before = text[-1]
        return out
