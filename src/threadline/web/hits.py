"""Search hits as the web pages show them: the search page's list, and the entries that match
the threads list's text filter.

A snippet is split into plain and matched pieces here and ``_hits.html`` escapes each (the
matched ones inside ``<mark>``): nothing an entry holds reaches a page unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.services.search import Hit

ROLE_LABELS = {"user": "Prompt", "assistant": "Reply", "tool": "Tool output", "system": "System"}


@dataclass(frozen=True)
class Shown:
    """A hit as a page shows it: the snippet as ``(text, matched)`` pieces."""

    hit: Hit
    pieces: list[tuple[str, bool]]
    role_label: str

    @property
    def title(self) -> str:
        return self.hit.thread_title or self.hit.thread_name


def pieces(snippet: str, highlights: tuple[tuple[int, int], ...]) -> list[tuple[str, bool]]:
    """``snippet`` cut into plain and matched pieces, in order."""
    out: list[tuple[str, bool]] = []
    position = 0
    for start, end in sorted(highlights):
        if start < position or end > len(snippet) or start >= end:
            continue
        if start > position:
            out.append((snippet[position:start], False))
        out.append((snippet[start:end], True))
        position = end
    if position < len(snippet):
        out.append((snippet[position:], False))
    return out


def shown(hits: list[Hit]) -> list[Shown]:
    """``hits`` as the pages show them."""
    return [
        Shown(hit, pieces(hit.snippet, hit.highlights), ROLE_LABELS.get(hit.role, hit.role))
        for hit in hits
    ]
