"""Text from the history made safe to show: terminal control sequences and control characters
taken out.

Tool output captured from a terminal holds ANSI escape sequences (colours such as ``ESC[31m``,
cursor moves, window titles, OSC 8 links, OSC 52 clipboard writes). Shown as text they are
noise (``[31m❯[39m``) that also matches and gets quoted; printed to a terminal they are
obeyed — the terminal, not the reader, decides what the history "says", and a sequence can
change the window title or write the clipboard. Every place that shows history text (the CLI's
human output, search snippets, ask's quotes, the web reader) passes it through
:func:`printable`. ``--json`` output and the stored entries keep the text exactly as captured.

Standard library only (:mod:`threadline.protocol` is below every layer).
"""

from __future__ import annotations

import re

#: ECMA-48 sequences introduced by ESC: CSI (``ESC [`` parameters, intermediates, final);
#: OSC, DCS, SOS, PM and APC strings (to BEL or ST, or to the end of the line when never
#: closed); and the two- or three-character escapes (``ESC (B``, ``ESC =``, ``ESC 7`` …).
_ESCAPE = re.compile(
    r"\x1b(?:"
    r"\[[0-?]*[ -/]*[@-~]?"
    r"|[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
    r"|[ -/]*[0-~]"
    r")?"
)
#: What may still be left after those: C0 controls but tab and line feed, DEL and the C1
#: controls (8-bit CSI included).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: A carriage return that does not end a line (a progress bar redrawn in place).
_LONE_CR = re.compile(r"\r(?!\n)")


def printable(text: str) -> str:
    """``text`` without escape sequences or control characters (tab and line feed kept; a
    carriage return becomes a line break, so nothing a redraw hid is hidden here)."""
    if _CONTROL.search(text) is None:
        return text
    if "\x1b" in text:
        text = _ESCAPE.sub("", text)
    if "\r" in text:
        text = _LONE_CR.sub("\n", text.replace("\r\n", "\n"))
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """:func:`printable` on one line: each line break or tab becomes a space (titles, names,
    table cells and snippets; nothing else moves, so offsets into the text still hold)."""
    return printable(text).translate(_BREAKS)


_BREAKS = str.maketrans("\n\t", "  ")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless it is one: ``1 batch``, ``3 batches``, ``0 entries``
    (``plural`` where adding ``s`` is wrong)."""
    many = plural if plural is not None else f"{noun}s"
    return f"{count:,} {noun if count == 1 else many}"
