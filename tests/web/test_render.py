"""What the thread page renders of entries: safe Markdown, tool summaries, diffs, pairing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from threadline.services.entries import EntryRow
from threadline.web import render
from threadline.web.render import Child, DiffLine, Window

HREF = re.compile(r'href="([^"]*)"')


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](  javascript:alert(1) )",
        "[x](&#106;avascript:alert(1))",
        "[x](java%0ascript:alert(1))",
        "<javascript:alert(1)>",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
        "[x](file:///etc/passwd)",
    ],
)
def test_unsafe_links_are_inert(source: str) -> None:
    html = str(render.markdown(source))
    for href in HREF.findall(html):
        assert href == "" or href.startswith(("http:", "https:", "mailto:", "/", "#")), html
    lowered = html.lower()
    assert "javascript:" not in lowered.replace("&amp;", "&") or "href" not in lowered
    assert "<img" not in lowered and "src=" not in lowered


def test_raw_html_is_escaped() -> None:
    html = str(render.markdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">'))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=" in html
    inline = str(render.markdown("text <b onmouseover=alert(1)>bold</b> and <iframe src=x>"))
    assert "<b " not in inline and "<iframe" not in inline


def test_safe_links_and_images_stay_useful() -> None:
    html = str(
        render.markdown("[docs](https://example.com/a?b=1) [rel](/threads) [m](mailto:a@b.c)")
    )
    assert HREF.findall(html)[:3] == ["https://example.com/a?b=1", "/threads", "mailto:a@b.c"]
    assert 'rel="nofollow noopener noreferrer"' in html
    image = str(render.markdown("![chart](https://example.com/c.png)"))
    assert "<img" not in image and 'href="https://example.com/c.png"' in image


def test_fenced_code_is_highlighted_with_classes_only() -> None:
    html = str(render.markdown("```python\ndef f(x):\n    return '<b>'\n```"))
    assert '<pre class="code" data-lang="python"><code class="hl">' in html
    assert 'class="k"' in html and "style=" not in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    unknown = str(render.markdown("```nosuchlang\n<script>x</script>\n```"))
    assert "&lt;script&gt;" in unknown and "<script>" not in unknown
    attack = str(render.markdown('```"><script>alert(1)</script>\nx\n```'))
    assert "<script>" not in attack


@pytest.mark.parametrize(
    ("name", "tool_input", "expected"),
    [
        ("Bash", {"command": "ls -la", "description": "list"}, "ls -la"),
        ("shell", {"command": ["bash", "-lc", "rg foo src"], "workdir": "."}, "rg foo src"),
        ("shell", {"command": ["git", "status", "--short"]}, "git status --short"),
        ("exec_command", {"cmd": "pytest -q"}, "pytest -q"),
        ("Read", {"file_path": "/src/app.py", "limit": 10}, "/src/app.py"),
        ("Edit", {"file_path": "/src/a.py", "old_string": "a", "new_string": "b"}, "/src/a.py"),
        ("Write", {"file_path": "/src/b.py", "content": "x"}, "/src/b.py"),
        ("MultiEdit", {"file_path": "/src/c.py", "edits": []}, "/src/c.py"),
        ("NotebookEdit", {"notebook_path": "/n.ipynb", "new_source": "x"}, "/n.ipynb"),
        ("Grep", {"pattern": "def \\w+", "path": "src"}, "def \\w+ in src"),
        ("Glob", {"pattern": "**/*.md"}, "**/*.md"),
        ("WebFetch", {"url": "https://example.com", "prompt": "read"}, "https://example.com"),
        ("WebSearch", {"query": "pygments css classes"}, "pygments css classes"),
        (
            "Task",
            {"description": "Explore", "prompt": "…", "subagent_type": "Plan"},
            "Explore (Plan)",
        ),
        ("apply_patch", "*** Begin Patch\n*** Update File: src/x.py\n@@\n-a\n+b\n", "src/x.py"),
        ("mcp__db__query", {"sql": "select 1"}, "select 1"),
    ],
)
def test_tool_summaries(name: str, tool_input: Any, expected: str) -> None:
    assert render.tool_summary(name, tool_input) == expected


def test_summary_is_one_short_line() -> None:
    summary = render.tool_summary("Bash", {"command": "echo a\n" * 200})
    assert "\n" not in summary and len(summary) <= 200 and summary.endswith("…")


def test_diffs() -> None:
    edit = render.tool_diff("Edit", {"old_string": "a\nb\nc", "new_string": "a\nB\nc"})
    assert edit is not None
    kinds = [(d.kind, d.text) for d in edit]
    assert ("del", "b") in kinds and ("add", "B") in kinds and ("ctx", "a") in kinds
    assert kinds[0][0] == "hunk"
    multi = render.tool_diff(
        "MultiEdit",
        {"edits": [{"old_string": "x", "new_string": "y"}, {"old_string": "1", "new_string": "2"}]},
    )
    assert multi is not None
    assert [d for d in multi if d.kind in ("add", "del")] == [
        DiffLine("del", "x"), DiffLine("add", "y"), DiffLine("del", "1"), DiffLine("add", "2")
    ]  # fmt: skip
    write = render.tool_diff("Write", {"file_path": "f", "content": "one\ntwo\n"})
    assert write == [DiffLine("add", "one"), DiffLine("add", "two")]
    patch = "*** Begin Patch\n*** Update File: a.py\n@@ def f\n-old\n+new\n same\n*** End Patch"
    lines = render.tool_diff("apply_patch", patch)
    assert lines is not None
    assert [d.kind for d in lines] == ["file", "file", "hunk", "del", "add", "ctx", "file"]
    shell = render.tool_diff("shell", {"command": ["apply_patch", patch]})
    assert shell == lines
    heredoc = {"command": ["bash", "-lc", f"apply_patch <<'PATCH'\n{patch}\nPATCH"]}
    assert render.tool_diff("shell", heredoc) == lines
    assert render.tool_summary("shell", heredoc) == "apply_patch a.py"
    assert render.tool_diff("Bash", {"command": "ls"}) is None


def row(n: int, role: str, parts: list[dict[str, Any]], **meta: Any) -> EntryRow:
    return EntryRow(
        pk=n, id=f"00000000-0000-4000-8000-{n:012d}", ts=f"2026-01-01T00:00:{n:02d}Z",
        role=role, text="", parts=parts, meta=dict(meta), change=1, seq=n,
    )  # fmt: skip


def call(call_id: str, name: str = "Bash", **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "id": call_id, "input": tool_input}


def result(call_id: str, output: str, **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_call_id": call_id, "output": output, **extra}


def test_results_are_paired_with_their_calls() -> None:
    rows = [
        row(1, "user", [{"type": "text", "text": "go"}]),
        row(2, "assistant", [call("c1", command="ls")]),
        row(3, "assistant", [call("c2", command="pwd")]),
        row(4, "tool", [result("c2", "/home", is_error=False)]),
        row(5, "tool", [result("c1", "a b", is_error=True)]),
        row(6, "tool", [result("unknown", "orphan")]),
    ]
    views = render.build_views(Window([], rows, []))
    by_id = {v.row.seq: v for v in views}
    c1 = by_id[2].parts[0].tool
    assert c1 is not None and [r.output.text for r in c1.results] == ["a b"] and c1.is_error
    c2 = by_id[3].parts[0].tool
    assert c2 is not None and [r.output.text for r in c2.results] == ["/home"]
    assert by_id[4].paired_to == rows[2].id and by_id[5].paired_to == rows[1].id
    assert by_id[6].paired_to is None and by_id[6].parts[0].kind == "result"


def test_pairing_across_page_edges_is_decided_the_same_from_both_sides() -> None:
    rows = [row(i, "system", [{"type": "meta", "record": "progress"}]) for i in range(1, 200)]
    rows[9] = row(10, "assistant", [call("near")])
    rows[19] = row(20, "tool", [result("near", "ok")])
    rows[29] = row(30, "assistant", [call("far")])
    rows[29 + render.PAIR_WINDOW + 5] = row(
        30 + render.PAIR_WINDOW + 5, "tool", [result("far", "late")]
    )
    first = render.build_views(Window([], rows[:15], rows[15:65]))
    second = render.build_views(Window(rows[:15][-50:], rows[15:40], rows[40:90]))
    third = render.build_views(Window(rows[:40][-50:], rows[40:140], rows[140:190]))
    near = next(v for v in first if v.row.seq == 10).parts[0].tool
    assert near is not None and near.results and near.results[0].output.text == "ok"
    assert next(v for v in second if v.row.seq == 20).paired_to == rows[9].id
    far = next(v for v in second if v.row.seq == 30).parts[0].tool
    assert far is not None and not far.results, "too far apart: shown on its own"
    late = next(v for v in third if v.row.seq == 30 + render.PAIR_WINDOW + 5)
    assert late.paired_to is None and late.parts[0].kind == "result"


def test_system_lines_and_cuts() -> None:
    assert render.is_system(row(1, "system", [{"type": "text", "text": "x"}]))
    assert render.is_system(row(2, "assistant", [{"type": "meta", "record": "token_count"}]))
    assert render.is_system(row(3, "user", [{"type": "meta"}], duplicate=True))
    assert not render.is_system(row(4, "assistant", [{"type": "text", "text": "hi"}]))
    big = "x" * (render.MAX_SHOWN + 10)
    views = render.build_views(
        Window([], [row(5, "assistant", [{"type": "text", "text": big, "truncated": True}])], [])
    )
    part = views[0].parts[0]
    assert part.text is not None and part.text.cut and len(part.text.text) == render.MAX_SHOWN
    assert part.truncated and views[0].cut
    full = render.build_views(Window([], [views[0].row], [], full=True))
    assert full[0].parts[0].text is not None and not full[0].parts[0].text.cut


def test_task_calls_link_children_and_nest_inline_sidechains() -> None:
    root = "00000000-0000-4000-8000-000000000003"
    rows = [
        row(1, "assistant", [call("t1", "Task", description="Explore", prompt="Find the bug")]),
        row(2, "assistant", [call("t2", "Task", description="Other", prompt="Write docs")]),
        row(3, "user", [{"type": "text", "text": "Find the bug"}], is_sidechain=True,
            sidechain_root=root),
        row(4, "assistant", [{"type": "text", "text": "looking"}], is_sidechain=True,
            sidechain_root=root),
        row(5, "tool", [result("t1", "done")], subagent_id="a1"),
        row(6, "tool", [result("t2", "done")]),
    ]  # fmt: skip
    children = [
        Child("child-1", "Explore the code", "a1", 3),
        Child("child-2", "Write docs", None, 2),
    ]
    views = render.build_views(Window([], rows, []), children)
    assert [v.row.seq for v in views] == [1, 2, 5, 6], "sidechain lines left the main flow"
    t1 = views[0].parts[0].tool
    t2 = views[1].parts[0].tool
    assert t1 is not None and t1.child is not None and t1.child.id == "child-1"
    assert t2 is not None and t2.child is not None and t2.child.id == "child-2"
    assert len(t1.sidechains) == 1
    assert [e.row.seq for e in t1.sidechains[0].entries] == [3, 4]
    assert all(e.nested for e in t1.sidechains[0].entries)
    alone = render.build_views(Window([], rows[2:4], []))
    assert len(alone) == 1 and alone[0].sidechain is not None


def test_a_linked_entry_opens_the_folds_that_hold_it() -> None:
    root = "00000000-0000-4000-8000-000000000003"
    thinking = {"type": "thinking", "text": "weighing it"}
    rows = [
        row(1, "assistant", [thinking, {"type": "text", "text": "so"}, call("c1")]),
        row(2, "tool", [result("c1", "total 0")]),
        row(3, "assistant", [call("t1", "Task", description="Explore", prompt="Find the bug")]),
        row(4, "user", [{"type": "text", "text": "Find the bug"}], is_sidechain=True,
            sidechain_root=root),
        row(5, "assistant", [thinking], is_sidechain=True, sidechain_root=root),
        row(6, "tool", [result("t1", "done")]),
        row(7, "tool", [result("orphan", "alone")]),
    ]  # fmt: skip

    def opened(target: str) -> dict[int, render.EntryView]:
        views = render.build_views(Window([], rows, []))
        assert render.open_target(views, target)
        return {view.row.seq: view for view in views}

    def folds(view: render.EntryView) -> list[bool]:
        return [p.tool.open if p.tool is not None else p.open for p in view.parts]

    # A result shown inside its call opens that call only, and marks it.
    first = opened(rows[1].id)[1]
    assert folds(first) == [False, False, True] and first.targeted
    c1 = first.parts[2].tool
    assert c1 is not None and [r.targeted for r in c1.results] == [True]
    # The entry itself: its thinking and its tool calls.
    first = opened(rows[0].id)[1]
    assert folds(first) == [True, False, True] and first.targeted
    # Nested in a subagent run under its Task call: the call, the run and the entry open.
    task = opened(rows[4].id)[3]
    tool = task.parts[0].tool
    assert tool is not None and tool.open and tool.sidechains[0].open
    assert folds(tool.sidechains[0].entries[1]) == [True]
    # A result shown on its own.
    last = opened(rows[6].id)[7]
    assert folds(last) == [True] and last.targeted
    views = render.build_views(Window([], rows, []))
    assert not render.open_target(views, "no-such-entry")
    assert not any(any(folds(v)) or v.targeted for v in views)


def test_export_markdown() -> None:
    text = render.export_entry(row(1, "assistant", [
        {"type": "text", "text": "Done."},
        call("c", "Edit", file_path="a.py", old_string="x", new_string="y"),
    ]))  # fmt: skip
    assert text.startswith("### assistant · 2026-01-01T00:00:01Z")
    assert "**Tool call: Edit** — a.py" in text and "```diff\n" in text and "\n-x\n+y\n" in text
    fenced = render.export_entry(row(2, "tool", [result("c", "```\ninner\n```")]))
    assert "````\n```\ninner\n```\n````" in fenced
    assert render.export_entry(row(3, "system", [{"type": "meta"}])) == ""
