"""What the thread page shows of an entry: safe Markdown, tool call summaries, diffs, pairing.

Pure functions over stored entries (no database, no request), so they are easy to test:

- :func:`markdown` renders text and thinking with markdown-it-py: raw HTML is escaped, images
  are not loaded (shown as links), and a link keeps its ``href`` only for ``http``, ``https``,
  ``mailto`` and relative targets — anything else (``javascript:``, ``data:``, …) is rendered
  as plain text. Fenced code is highlighted by pygments with CSS classes only (no ``style``).
- :func:`tool_summary` is the one line shown on a folded tool call; :func:`tool_diff` the
  added and removed lines of a file edit (Edit, MultiEdit, Write, NotebookEdit, Codex
  ``apply_patch``).
- :func:`build_views` pairs tool results with their calls (``tool_call.id`` ↔
  ``tool_result.tool_call_id``), groups inline sidechains (Claude Code 1.0.x subagents written
  into the session file) under the Task call that started them, links Task calls to child
  threads, and marks system and bookkeeping lines. :func:`open_target` opens the folds that
  hold the entry a link points at.
- :func:`export_markdown` writes entries as readable Markdown.

Any single text or output is cut to :data:`MAX_SHOWN` characters on the page, with a link that
loads the whole entry.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from threadline.protocol.text import printable
from threadline.services.entries import EntryRow

#: Characters of one text, thinking, input or output shown before "show full".
MAX_SHOWN = 20_000
#: Lines of one diff shown before "show full".
MAX_DIFF_LINES = 1500
#: A tool result is shown inside its call when both are on the same page, or at most this
#: many entries apart (so a page knows which of its neighbours' results it shows).
PAIR_WINDOW = 50
#: Link schemes kept as links; anything else with a scheme is rendered as text.
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})

_SCHEME = re.compile(r"^([^/?#]*?):")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_FORMATTER = HtmlFormatter(nowrap=True)
_MAX_HIGHLIGHT = 200_000


# --- Markdown --------------------------------------------------------------------------------


def safe_link(url: str) -> bool:
    """``url`` has no scheme (relative, ``#fragment``) or an allowed one."""
    cleaned = _CONTROL.sub("", url).lower()
    match = _SCHEME.match(cleaned)
    return match is None or match.group(1) in SAFE_SCHEMES


def highlight(code: str, lang: str | None) -> Markup:
    """``code`` as HTML: highlighted with CSS classes when ``lang`` is known, else escaped."""
    lexer = None
    if lang and len(code) <= _MAX_HIGHLIGHT:
        try:
            lexer = get_lexer_by_name(lang.strip().lower())
        except ClassNotFound:
            lexer = None
    if lexer is None:
        return escape(code)
    return Markup(pygments_highlight(code, lexer, _FORMATTER))


def _fence(_self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    body = highlight(token.content, lang)
    label = f' data-lang="{escape(lang)}"' if lang else ""
    return f'<pre class="code"{label}><code class="hl">{body}</code></pre>\n'


def _code_block(_self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return f'<pre class="code"><code class="hl">{escape(tokens[idx].content)}</code></pre>\n'


def _neutralize_links(state: Any) -> None:
    """Links whose target was refused (markdown-it leaves ``href=""``) become plain spans, and
    images become links to their source (never loaded by the page)."""
    for block in state.tokens:
        for child in block.children or ():
            if child.type == "link_open":
                href = str(child.attrGet("href") or "")
                if not href or not safe_link(href):
                    child.tag, child.attrs = "span", {}
                    child.meta["neutral"] = True
                else:
                    child.attrSet("rel", "nofollow noopener noreferrer")
        stack: list[Token] = []
        for child in block.children or ():
            if child.type == "link_open":
                stack.append(child)
            elif child.type == "link_close" and stack and stack.pop().meta.get("neutral"):
                child.tag = "span"


def _image(_self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = token.content or "image"
    if src and safe_link(src) and not src.lower().startswith("data:"):
        return (
            f'<a class="img-link" href="{escape(src)}" rel="nofollow noopener noreferrer">'
            f"[image: {escape(alt)}]</a>"
        )
    return f'<span class="img-link">[image: {escape(alt)}]</span>'


def _make_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.core.ruler.push("neutralize_links", _neutralize_links)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _code_block)
    md.add_render_rule("image", _image)
    return md


_MD = _make_markdown()


def markdown(text: str) -> Markup:
    """Sanitized HTML of ``text`` (safe to insert as it is)."""
    return Markup(_MD.render(text))


# --- tool calls ------------------------------------------------------------------------------

_PATH_TOOLS = {"Read", "Edit", "Write", "MultiEdit", "NotebookEdit", "NotebookRead", "LS"}
_SHELL_TOOLS = {"shell", "local_shell", "container.exec", "exec_command", "shell_command"}
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$", re.M)


def _shell_text(command: Any) -> str | None:
    """A Codex ``command`` (a list like ``["bash", "-lc", "ls"]``, or a string) as one line."""
    if isinstance(command, str):
        return command
    if isinstance(command, list) and all(isinstance(c, str) for c in command):
        if len(command) >= 3 and command[1] in ("-lc", "-c") and command[0].endswith("sh"):
            return str(command[2])
        return shlex.join(command)
    return None


def as_str(value: Any) -> str | None:
    """``value`` if it is a non-empty string (a field of a tool's input), else ``None``."""
    return value if isinstance(value, str) and value else None


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def tool_summary(name: str | None, tool_input: Any) -> str:
    """What a tool call did, in one line: the command, the path, the pattern, the URL …"""
    data = tool_input if isinstance(tool_input, dict) else {}
    name = name or "tool"
    found: str | None = None
    if name == "Bash" or name == "BashOutput":
        found = as_str(data.get("command")) or as_str(data.get("bash_id"))
    elif name in _PATH_TOOLS:
        found = as_str(data.get("file_path")) or as_str(data.get("notebook_path"))
        found = found or as_str(data.get("path"))
    elif name in ("Grep", "Glob"):
        pattern = as_str(data.get("pattern"))
        where = as_str(data.get("path")) or as_str(data.get("glob"))
        found = f"{pattern} in {where}" if pattern and where else pattern
    elif name == "WebFetch":
        found = as_str(data.get("url"))
    elif name == "WebSearch":
        found = as_str(data.get("query"))
    elif name in ("Task", "Agent"):
        found = as_str(data.get("description")) or as_str(data.get("prompt"))
        kind = as_str(data.get("subagent_type"))
        found = f"{found} ({kind})" if found and kind else found
    elif name == "apply_patch":
        patch = tool_input if isinstance(tool_input, str) else as_str(data.get("input"))
        files = _PATCH_FILE.findall(patch or "")
        found = ", ".join(files) if files else None
    elif name in _SHELL_TOOLS:
        found = _shell_text(data.get("command")) or as_str(data.get("cmd"))
        if found and (patch := _embedded_patch(found)) is not None:
            found = "apply_patch " + ", ".join(_PATCH_FILE.findall(patch))
    elif name == "web_search":
        found = as_str(data.get("query"))
    elif name == "TodoWrite" and isinstance(data.get("todos"), list):
        found = f"{len(data['todos'])} todos"
    if found is None:
        found = _fallback_summary(tool_input)
    return _one_line(found)


def _fallback_summary(tool_input: Any) -> str:
    if isinstance(tool_input, str):
        return tool_input
    if isinstance(tool_input, dict):
        for value in tool_input.values():
            if isinstance(value, str) and value.strip():
                return value
    if tool_input in (None, {}, []):
        return ""
    return json.dumps(tool_input, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a diff: ``kind`` is ``add``, ``del``, ``ctx``, ``hunk`` or ``file``."""

    kind: str
    text: str


def _unified(old: str, new: str) -> list[DiffLine]:
    out: list[DiffLine] = []
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    for line in lines:
        if line.startswith(("---", "+++")) and not out:
            continue
        out.append(_diff_line(line))
    return out


def _diff_line(line: str) -> DiffLine:
    """One line of a unified diff's body: a hunk header, an addition, a deletion or context."""
    if line.startswith("@@"):
        return DiffLine("hunk", line)
    if line.startswith("+"):
        return DiffLine("add", line[1:])
    if line.startswith("-"):
        return DiffLine("del", line[1:])
    return DiffLine("ctx", line[1:] if line.startswith(" ") else line)


def patch_lines(patch: str) -> list[DiffLine]:
    """A Codex ``apply_patch`` text (or a unified diff) as classified lines."""
    out: list[DiffLine] = []
    for line in patch.splitlines():
        out.append(DiffLine("file", line) if line.startswith("***") else _diff_line(line))
    return out


def tool_diff(name: str | None, tool_input: Any) -> list[DiffLine] | None:
    """The change a file-editing tool call makes, or ``None`` for other calls."""
    data = tool_input if isinstance(tool_input, dict) else {}
    if name == "Edit" and isinstance(data.get("old_string"), str):
        return _unified(data["old_string"], str(data.get("new_string") or ""))
    if name == "MultiEdit" and isinstance(data.get("edits"), list):
        out: list[DiffLine] = []
        for number, edit in enumerate(data["edits"], start=1):
            if isinstance(edit, dict):
                out.append(DiffLine("hunk", f"edit {number}"))
                old, new = str(edit.get("old_string") or ""), str(edit.get("new_string") or "")
                out.extend(line for line in _unified(old, new) if line.kind != "hunk")
        return out
    if name == "Write" and isinstance(data.get("content"), str):
        return [DiffLine("add", line) for line in data["content"].splitlines()]
    if name == "NotebookEdit" and isinstance(data.get("new_source"), str):
        return [DiffLine("add", line) for line in data["new_source"].splitlines()]
    if name == "apply_patch":
        patch = tool_input if isinstance(tool_input, str) else as_str(data.get("input"))
        return patch_lines(patch) if patch else None
    if name in _SHELL_TOOLS:
        command = data.get("command")
        if isinstance(command, list) and len(command) == 2 and command[0] == "apply_patch":
            return patch_lines(str(command[1]))
        text = _shell_text(command) or as_str(data.get("cmd"))
        patch = _embedded_patch(text) if text else None
        return patch_lines(patch) if patch is not None else None
    return None


def _embedded_patch(command: str) -> str | None:
    """The patch of ``apply_patch <<'EOF' … EOF`` run through a shell (Codex 0.4x)."""
    if "apply_patch" not in command:
        return None
    start = command.find("*** Begin Patch")
    if start < 0:
        return None
    end = command.find("*** End Patch", start)
    return command[start : end + len("*** End Patch")] if end >= 0 else command[start:]


# --- entries as views ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    """A child thread (a subagent's session)."""

    id: str
    title: str
    agent_id: str | None
    entry_count: int


@dataclass(slots=True)
class Shown:
    """A text cut to what the page shows; ``cut`` when some was left out."""

    text: str
    cut: bool
    size: int


def shown(text: str, full: bool) -> Shown:
    text = printable(text)
    if full or len(text) <= MAX_SHOWN:
        return Shown(text, False, len(text))
    return Shown(text[:MAX_SHOWN], True, len(text))


@dataclass(slots=True)
class ResultView:
    entry_id: str
    output: Shown
    is_error: bool
    truncated: bool
    #: The entry a link points at (:func:`open_target`).
    targeted: bool = False


@dataclass(slots=True)
class ToolView:
    call_id: str | None
    name: str
    summary: str
    input: Shown
    diff: list[DiffLine] | None
    diff_cut: bool
    truncated: bool
    results: list[ResultView] = field(default_factory=list)
    child: Child | None = None
    sidechains: list[SidechainView] = field(default_factory=list)
    #: Shown unfolded (:func:`open_target`).
    open: bool = False

    @property
    def is_error(self) -> bool:
        return any(r.is_error for r in self.results)


@dataclass(slots=True)
class PartView:
    """``kind``: ``text``, ``thinking``, ``summary``, ``tool``, ``result``, ``image``, ``meta``."""

    kind: str
    html: Markup = field(default_factory=Markup)
    text: Shown | None = None
    truncated: bool = False
    redacted: bool = False
    tool: ToolView | None = None
    result: ResultView | None = None
    label: str = ""
    #: Shown unfolded, for a thinking part or a result shown on its own (:func:`open_target`).
    open: bool = False


@dataclass(slots=True)
class EntryView:
    row: EntryRow
    parts: list[PartView]
    system: bool
    #: The entry holding the call this entry's results are shown in (then only an anchor).
    paired_to: str | None = None
    #: A standalone run of inline sidechain entries that starts here.
    sidechain: SidechainView | None = None
    cut: bool = False
    #: Shown inside a sidechain block (under its Task call).
    nested: bool = False
    #: The entry a link points at, or the call a pointed-at result is shown in.
    targeted: bool = False

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def sort_key(self) -> str:
        return f"{self.row.ts}|{self.row.pk}"

    @property
    def role_label(self) -> str:
        return f"{self.row.role} · subagent" if self.nested else self.row.role


@dataclass(slots=True)
class SidechainView:
    root_id: str
    title: str
    entries: list[EntryView]
    #: Shown unfolded (:func:`open_target`).
    open: bool = False


def is_system(row: EntryRow) -> bool:
    """Hidden unless "Show system lines": role ``system``, Codex duplicates, and lines that hold
    only bookkeeping (``meta`` parts) or nothing."""
    if row.role == "system" or row.meta.get("duplicate"):
        return True
    kinds = {p.get("type") for p in row.parts}
    return not row.text.strip() and kinds <= {"meta", None}


def _meta_label(part: dict[str, Any]) -> str:
    record = part.get("record") or part.get("block") or "meta"
    details = [
        f"{k}={v}"
        for k, v in part.items()
        if k not in ("type", "record", "block") and isinstance(v, str | int | float) and v != ""
    ]
    return _one_line(" ".join([str(record), *details]), 160)


def _input_text(tool_input: Any) -> str:
    if isinstance(tool_input, str):
        return tool_input
    return json.dumps(tool_input, ensure_ascii=False, indent=2)


def tool_view(part: dict[str, Any], full: bool) -> ToolView:
    name = _tool_name(part)
    tool_input = part.get("input")
    diff = tool_diff(name, tool_input)
    diff_cut = False
    if diff is not None and not full and len(diff) > MAX_DIFF_LINES:
        diff, diff_cut = diff[:MAX_DIFF_LINES], True
    call_id = part.get("id")
    return ToolView(
        call_id=str(call_id) if call_id else None,
        name=name,
        summary=tool_summary(name, tool_input),
        input=shown(_input_text(tool_input), full),
        diff=diff,
        diff_cut=diff_cut,
        truncated=bool(part.get("truncated")),
    )


def result_view(part: dict[str, Any], entry_id: str, full: bool) -> ResultView:
    return ResultView(
        entry_id=entry_id,
        output=shown(str(part.get("output") or ""), full),
        is_error=part.get("is_error") is True,
        truncated=bool(part.get("truncated")),
    )


def part_view(part: dict[str, Any], entry_id: str, full: bool) -> PartView:
    kind = str(part.get("type") or "meta")
    truncated = bool(part.get("truncated"))
    if kind in ("text", "thinking", "summary"):
        text = shown(str(part.get("text") or ""), full)
        return PartView(
            kind,
            html=markdown(text.text),
            text=text,
            truncated=truncated,
            redacted=part.get("redacted") is True,
        )
    if kind == "tool_call":
        return PartView("tool", tool=tool_view(part, full), truncated=truncated)
    if kind == "tool_result":
        return PartView("result", result=result_view(part, entry_id, full), truncated=truncated)
    if kind == "image":
        label = f"image {part.get('media_type') or ''} {part.get('size') or ''} bytes"
        return PartView("image", label=" ".join(label.split()))
    return PartView("meta", label=_meta_label(part))


@dataclass(slots=True)
class Window:
    """A page of entries and its neighbours: ``before`` and ``after`` are only read (to pair
    results with calls across the page's edges), never shown."""

    before: list[EntryRow]
    page: list[EntryRow]
    after: list[EntryRow]
    #: Render the page without cutting anything (``…/full``).
    full: bool = False
    #: Pair and group (off for live fragments: their calls are already on the page).
    pair: bool = True


def _calls(row: EntryRow) -> Iterator[dict[str, Any]]:
    for part in row.parts:
        if part.get("type") == "tool_call" and part.get("id"):
            yield part


def _results(row: EntryRow) -> Iterator[dict[str, Any]]:
    for part in row.parts:
        if part.get("type") == "tool_result" and part.get("tool_call_id"):
            yield part


def _pairs(window: Window) -> dict[str, tuple[int, int]]:
    """``tool_call_id → (position of the call, position of its result)`` for the pairs shown
    inside their call: both on the page, or one on it and the other at most
    :data:`PAIR_WINDOW` entries away."""
    rows = [*window.before, *window.page, *window.after]
    first, last = len(window.before), len(window.before) + len(window.page) - 1
    calls: dict[str, int] = {}
    for index, row in enumerate(rows):
        for part in _calls(row):
            calls.setdefault(str(part["id"]), index)
    pairs: dict[str, tuple[int, int]] = {}
    for index, row in enumerate(rows):
        for part in _results(row):
            call_id = str(part["tool_call_id"])
            at = calls.get(call_id)
            if at is None or at > index or call_id in pairs:
                continue
            both_on_page = first <= at <= last and first <= index <= last
            near = index - at <= PAIR_WINDOW and (first <= at <= last or first <= index <= last)
            if both_on_page or near:
                pairs[call_id] = (at, index)
    return pairs


def _sidechain_root(row: EntryRow, thread_is_subagent: bool) -> str | None:
    if thread_is_subagent or not row.meta.get("is_sidechain"):
        return None
    root = row.meta.get("sidechain_root")
    return str(root) if root else None


def _prompt_key(text: str) -> str:
    return " ".join(text.split())[:500]


#: Tools whose call starts a subagent (a child thread).
SUBAGENT_TOOLS = ("Task", "Agent")


def starts_subagents(rows: Iterable[EntryRow]) -> bool:
    """Whether one of ``rows`` calls a tool that starts a subagent: only then does
    :func:`build_views` (given these rows as its page) look at the children."""
    return any(_tool_name(part) in SUBAGENT_TOOLS for row in rows for part in _calls(row))


def _tool_name(part: dict[str, Any]) -> str:
    return str(part.get("name") or "tool")


def child_for(tool_input: Any, agent_id: str | None, children: list[Child]) -> Child | None:
    """The child thread a Task call started: by the subagent's id when the result or a progress
    line names it, else by its first prompt or description (the child's title)."""
    if agent_id:
        for child in children:
            if child.agent_id == agent_id:
                return child
    data = tool_input if isinstance(tool_input, dict) else {}
    wanted = [
        _prompt_key(v) for v in (data.get("prompt"), data.get("description")) if isinstance(v, str)
    ]
    for child in children:
        title = _prompt_key(child.title).rstrip("…").strip()
        if title and any(w == title or (len(title) >= 20 and w.startswith(title)) for w in wanted):
            return child
    return None


def build_views(
    window: Window, children: Sequence[Child] = (), *, thread_is_subagent: bool = False
) -> list[EntryView]:
    """The page's entries as views, in display order (see the module documentation)."""
    rows = [*window.before, *window.page, *window.after]
    first = len(window.before)
    pairs = _pairs(window) if window.pair else {}
    results_at: dict[int, set[str]] = {}
    for call_id, (_, result_at) in pairs.items():
        results_at.setdefault(result_at, set()).add(call_id)
    call_entry = {call_id: rows[at].id for call_id, (at, _) in pairs.items()}
    agent_ids = _agent_ids(rows)
    child_list = list(children)

    views: dict[int, EntryView] = {}
    tools: dict[str, tuple[ToolView, Any]] = {}
    for index in range(first, first + len(window.page)):
        row = rows[index]
        parts: list[PartView] = []
        for part in row.parts:
            if part.get("type") == "tool_result" and str(
                part.get("tool_call_id")
            ) in results_at.get(index, ()):
                continue
            view = part_view(part, row.id, window.full)
            parts.append(view)
            if view.tool is not None and view.tool.call_id:
                tools[view.tool.call_id] = (view.tool, part.get("input"))
        if not parts and not row.parts and row.text.strip():
            text = shown(row.text, window.full)
            parts.append(PartView("text", html=markdown(text.text), text=text))
        entry = EntryView(row=row, parts=parts, system=is_system(row))
        if not parts and index in results_at:
            paired = sorted(results_at[index])
            entry.paired_to = call_entry[paired[0]]
        entry.cut = _is_cut(entry)
        views[index] = entry

    # Results (from the page or its neighbours) go inside their calls.
    for call_id, (_, result_at) in pairs.items():
        if call_id not in tools:
            continue
        row = rows[result_at]
        for part in _results(row):
            if str(part["tool_call_id"]) == call_id:
                tools[call_id][0].results.append(result_view(part, row.id, window.full))
    for call_id, (tool, tool_input) in tools.items():
        if tool.name in SUBAGENT_TOOLS:
            tool.child = child_for(tool_input, agent_ids.get(call_id), child_list)
        if any(r.output.cut for r in tool.results):
            for owner in views.values():
                if any(p.tool is tool for p in owner.parts):
                    owner.cut = True

    return _group_sidechains(views, tools, window.pair, thread_is_subagent)


def open_target(views: Sequence[EntryView], target: str) -> bool:
    """Unfold what shows the entry ``target`` (a link's ``#entry-<id>``), so its text is on
    the page without a click: the entry's own folds (thinking, tool calls, a result shown on
    its own), or for a result shown inside its call, that call's fold; and the subagent runs
    and Task calls it is nested in. Whether ``views`` show it."""
    for view in views:
        if view.sidechain is not None:
            if open_target(view.sidechain.entries, target):
                view.sidechain.open = True
                return True
            continue
        if view.id == target and view.paired_to is None:
            view.targeted = True
            for part in view.parts:
                part.open = part.kind in ("thinking", "result")
                if part.tool is not None:
                    part.tool.open = True
            return True
        for part in view.parts:
            tool = part.tool
            if tool is None:
                continue
            for result in tool.results:
                if result.entry_id == target:
                    result.targeted = tool.open = view.targeted = True
                    return True
            for group in tool.sidechains:
                if open_target(group.entries, target):
                    group.open = tool.open = True
                    return True
    return False


def _agent_ids(rows: Iterable[EntryRow]) -> dict[str, str]:
    """``tool_call_id → subagent id`` from tool results and progress lines that name one."""
    found: dict[str, str] = {}
    for row in rows:
        agent = row.meta.get("subagent_id")
        if not isinstance(agent, str):
            continue
        for part in row.parts:
            call_id = part.get("tool_call_id")
            if isinstance(call_id, str):
                found.setdefault(call_id, agent)
    return found


def _is_cut(entry: EntryView) -> bool:
    for part in entry.parts:
        if part.text is not None and part.text.cut:
            return True
        if part.tool is not None and (part.tool.input.cut or part.tool.diff_cut):
            return True
        if part.result is not None and part.result.output.cut:
            return True
    return False


def _group_sidechains(
    views: dict[int, EntryView],
    tools: dict[str, tuple[ToolView, Any]],
    pair: bool,
    thread_is_subagent: bool,
) -> list[EntryView]:
    """Inline sidechain entries leave the main flow: each run (by its root) is nested under
    the Task call whose prompt is the root's text, or else shown as one folded block where it
    starts."""
    ordered = [views[i] for i in sorted(views)]
    if not pair:
        return ordered
    groups: dict[str, SidechainView] = {}
    out: list[EntryView] = []
    for view in ordered:
        root = _sidechain_root(view.row, thread_is_subagent)
        if root is None:
            out.append(view)
            continue
        view.nested = True
        group = groups.get(root)
        if group is None:
            prompt = _plain_text(view.row)
            group = groups[root] = SidechainView(root, _one_line(prompt, 120), [])
            task = _task_for(prompt, tools)
            if task is not None:
                task.sidechains.append(group)
            else:
                holder = EntryView(row=view.row, parts=[], system=False, sidechain=group)
                out.append(holder)
        group.entries.append(view)
    return out


def _plain_text(row: EntryRow) -> str:
    texts = [str(p.get("text") or "") for p in row.parts if p.get("type") == "text"]
    return "\n".join(texts) or row.text


def _task_for(prompt: str, tools: dict[str, tuple[ToolView, Any]]) -> ToolView | None:
    key = _prompt_key(prompt)
    if not key:
        return None
    for tool, tool_input in tools.values():
        data = tool_input if isinstance(tool_input, dict) else {}
        if tool.name in ("Task", "Agent") and _prompt_key(str(data.get("prompt") or "")) == key:
            return tool
    return None


# --- Markdown export -------------------------------------------------------------------------


def _fenced(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}\n"


def export_entry(row: EntryRow) -> str:
    """One entry as Markdown (system and bookkeeping lines give ``""``)."""
    if is_system(row):
        return ""
    chunks: list[str] = []
    for part in row.parts:
        kind = part.get("type")
        if kind == "text" or kind == "summary":
            chunks.append(str(part.get("text") or "").strip() + "\n")
        elif kind == "thinking" and part.get("text"):
            quoted = "\n".join("> " + line for line in str(part["text"]).splitlines())
            chunks.append(f"> *Thinking*\n>\n{quoted}\n")
        elif kind == "tool_call":
            name = str(part.get("name") or "tool")
            summary = tool_summary(name, part.get("input"))
            chunks.append(f"**Tool call: {name}** — {summary}\n")
            diff = tool_diff(name, part.get("input"))
            if diff is not None:
                marks = {"add": "+", "del": "-", "ctx": " ", "hunk": "", "file": ""}
                body = "\n".join(marks[d.kind] + d.text for d in diff)
                chunks.append(_fenced(body, "diff"))
            else:
                chunks.append(_fenced(_input_text(part.get("input")), "json"))
        elif kind == "tool_result":
            error = " (error)" if part.get("is_error") else ""
            chunks.append(f"**Tool result**{error}\n")
            chunks.append(_fenced(str(part.get("output") or "")))
        elif kind == "image":
            chunks.append(f"*[image {part.get('media_type') or ''}]*\n")
        if part.get("truncated"):
            chunks.append("*(cut when captured)*\n")
    if not row.parts and row.text.strip():
        chunks.append(row.text.strip() + "\n")
    if not chunks:
        return ""
    role = f"{row.role} (subagent)" if row.meta.get("is_sidechain") else row.role
    return printable(f"### {role} · {row.ts}\n\n" + "\n".join(chunks) + "\n")


def export_header(title: str, facts: Sequence[tuple[str, str]]) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- **{name}**: {value}" for name, value in facts if value]
    return "\n".join(lines) + "\n\n"
