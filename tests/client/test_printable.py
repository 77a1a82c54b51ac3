""":func:`threadline.protocol.text.printable`: the text of the history with terminal escape
sequences and control characters taken out, before the CLI, search snippets, ask's quotes and
the web reader show it."""

from __future__ import annotations

import pytest

from threadline.protocol.text import one_line, printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # vitest's coloured report (as in the shared fixtures)
        (
            "\x1b[31m❯\x1b[39m \x1b[30m\x1b[42m client \x1b[49m\x1b[39m 1 failed",
            "❯  client  1 failed",
        ),
        (
            "\x1b[2m Test Files \x1b[22m\x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m",
            " Test Files 1 failed",
        ),
        # a window title (OSC ended by BEL) and a clipboard write (OSC 52 ended by ST)
        ("before\x1b]0;pwned title\x07after", "beforeafter"),
        ("x\x1b]52;c;cm0gLXJmIH4=\x1b\\y", "xy"),
        # an OSC 8 link keeps its text
        ("\x1b]8;;https://evil.example\x1b\\click here\x1b]8;;\x1b\\", "click here"),
        # an OSC never closed ends at the line's end
        ("a\x1b]2;never closed\nnext line", "a\nnext line"),
        # a DCS string, charset and keypad escapes, cursor moves, erase line
        ("\x1bP1$r0m\x1b\\ok", "ok"),
        ("\x1b(B\x1b=\x1b7saved\x1b8", "saved"),
        ("\x1b[2K\x1b[1G\x1b[?25lhidden cursor\x1b[?25h", "hidden cursor"),
        # 8-bit controls, bell, backspace, NUL, DEL
        ("\x9b31mred\x07\x08\x00\x7f!", "31mred!"),
        # a redraw in place is shown as lines, so nothing it overwrote is hidden
        ("10%\r50%\r100%\r\ndone\r\n", "10%\n50%\n100%\ndone\n"),
        ("safe\rrm -rf ~", "safe\nrm -rf ~"),
        # a cut sequence and a lone ESC
        ("end\x1b[3", "end"),
        ("lone\x1b", "lone"),
    ],
)
def test_escapes_and_controls_are_taken_out(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_ordinary_text_is_the_same_object() -> None:
    text = "tabs\tand lines\nstay: é ✓ 中文 [31m written as text [0m"
    assert printable(text) is text


def test_one_line_keeps_offsets() -> None:
    assert one_line("a\tb\nc\x1b[1md") == "a b cd"
    assert len(one_line("x\ny\tz")) == len("x\ny\tz")


def test_counts_read_as_english() -> None:
    from threadline.protocol.text import counted

    assert counted(1, "batch", "batches") == "1 batch"
    assert counted(3, "batch", "batches") == "3 batches"
    assert counted(0, "entry", "entries") == "0 entries"
    assert counted(12_345, "save") == "12,345 saves"
