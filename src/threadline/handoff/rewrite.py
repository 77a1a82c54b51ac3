"""Moving a transcript line from one machine's repository root to another's.

Agents write absolute paths all over their transcripts: Claude Code a ``cwd`` on nearly every
record and in the environment text of its system prompt, Codex the ``cwd`` of
``session_meta``, ``turn_context`` and ``world_state``, ``<cwd>…</cwd>`` in the environment
message, shell ``workdir``\\ s inside the JSON-encoded ``arguments`` of a tool call — and both
agents quote paths in tool inputs and outputs. An agent continues a session only when these
name the folder it runs in, so every one of them that lies under the saving machine's root is
moved to this machine's root.

The rule, in every JSON string of the line (keys included, and strings inside strings, like
Codex's ``arguments``): ``old_root`` is replaced where it stands as a whole path — followed by
``/`` or by a character that cannot continue a file name (quote, space, ``<``, ``)``, …) or by
the end of the string, and not preceded by one that could begin it (so ``/srv/old_root`` and
``old_root.bak`` stay as they are). Nothing is re-serialized: a string is re-encoded only when
the encoder reproduces its original bytes exactly, so every byte outside the replaced paths is
unchanged. A line that is not JSON is left alone.
"""

from __future__ import annotations

import json
import re

from threadline.errors import InvalidInput

#: Characters that may continue a file name: after the root they mean another name
#: (``proj`` vs ``proj.bak``, ``proj-old``), before it a longer path (``/srv/proj``).
_NAME_CHARS = frozenset("._-~+@%=#!$&")
#: A JSON string literal in a line (``"`` … ``"`` with escapes), as bytes.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Escape sequences that may end right before a path inside a JSON-encoded string.
_ESCAPE_LETTERS = frozenset("nrtbf\"'/\\")


class Rewriter:
    """Rewrites lines from ``old_root`` to ``new_root`` (both absolute, without a trailing
    slash); build once per file, call :meth:`line` for each line."""

    def __init__(self, old_root: str, new_root: str) -> None:
        self.old = _clean_root(old_root)
        self.new = _clean_root(new_root)
        self.noop = self.old == self.new
        # The forms the root can take in a line's bytes: as written (UTF-8), \\u-escaped, and
        # escaped once more inside a string holding JSON. A line without any of them is
        # returned untouched without being parsed.
        once = [json.dumps(self.old, ensure_ascii=a)[1:-1] for a in (False, True)]
        twice = [json.dumps(form, ensure_ascii=a)[1:-1] for form in once for a in (False, True)]
        self.needles = tuple({form.encode() for form in (self.old, *once, *twice)})

    def line(self, line: bytes) -> bytes:
        """``line`` with every whole-path ``old_root`` moved to ``new_root``."""
        if self.noop:
            return line
        found = self._positions(line)
        if not found:
            return line
        body, eol = _split_eol(line)
        try:
            json.loads(body)
        except ValueError:
            return line
        # Only the strings that hold a needle are decoded; the scan stops after the last one.
        out: list[bytes] = []
        done = at = 0
        for match in _STRING.finditer(body):
            start, end = match.span()
            while at < len(found) and found[at] < start:
                at += 1
            if at == len(found):
                break
            if found[at] >= end:
                continue
            token = match.group(0)
            moved = self._token(token)
            if moved is not token:
                out += [body[done:start], moved]
                done = end
        if not out:
            return line
        out += [body[done:], eol]
        return b"".join(out)

    def _positions(self, line: bytes) -> list[int]:
        """Where any form of the root starts in the line, in order."""
        found: list[int] = []
        for needle in self.needles:
            at = line.find(needle)
            while at >= 0:
                found.append(at)
                at = line.find(needle, at + 1)
        return sorted(set(found))

    def _token(self, token: bytes) -> bytes:
        """A JSON string literal with the root moved in its value (itself if unchanged)."""
        try:
            value = json.loads(token)
        except ValueError:
            return token
        moved = replace_root(value, self.old, self.new)
        if moved == value:
            return token
        for ascii_only in (False, True):
            try:
                if json.dumps(value, ensure_ascii=ascii_only).encode() == token:
                    return json.dumps(moved, ensure_ascii=ascii_only).encode()
            except UnicodeEncodeError:  # a lone surrogate: not reproducible as UTF-8
                continue
        return token  # escapes the encoder would not reproduce: leave the string as it is


def rewrite_line(line: bytes, agent: str, old_root: str, new_root: str) -> bytes:
    """One transcript line with the saving machine's root ``old_root`` moved to ``new_root``
    (see the module's rule); the same for Claude Code and Codex lines. For a whole file,
    build a :class:`Rewriter` once instead."""
    del agent  # both agents' lines follow the same rule
    return Rewriter(old_root, new_root).line(line)


def replace_root(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new`` wherever it stands as a whole path."""
    if old not in text:
        return text
    out: list[str] = []
    start = 0
    at = text.find(old)
    while at >= 0:
        end = at + len(old)
        if _boundary_before(text, at) and _boundary_after(text, end):
            out += [text[start:at], new]
            start = end
            at = text.find(old, end)
        else:
            at = text.find(old, at + 1)
    out.append(text[start:])
    return "".join(out)


def _boundary_before(text: str, at: int) -> bool:
    if at == 0:
        return True
    before = text[at - 1]
    if before == "/" or before.isalnum() or before in _NAME_CHARS:
        # ``\n/root`` inside a string that holds JSON: an escape, not a longer name.
        return at >= 2 and text[at - 2] == "\\" and before in _ESCAPE_LETTERS
    return True


def _boundary_after(text: str, end: int) -> bool:
    if end == len(text):
        return True
    after = text[end]
    return after == "/" or not (after.isalnum() or after in _NAME_CHARS)


def _split_eol(line: bytes) -> tuple[bytes, bytes]:
    if line.endswith(b"\r\n"):
        return line[:-2], b"\r\n"
    if line.endswith(b"\n"):
        return line[:-1], b"\n"
    return line, b""


def _clean_root(root: str) -> str:
    """The root without a trailing slash; the file system's root or a relative path is
    refused (every absolute path would be "under" ``/``)."""
    cleaned = root.rstrip("/")
    if not cleaned.startswith("/") or "\n" in cleaned or "\x00" in cleaned:
        raise InvalidInput(
            f"cannot move a transcript's paths from or to {root!r}: not an absolute folder below /",
            hint="A save records its repository's root; resume runs in a clone's work tree.",
        )
    return cleaned
