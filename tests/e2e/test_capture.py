"""Transcript capture end to end: a real daemon process, a real server, real files.

The agent is played by the test, writing to a temporary Claude Code / Codex folder (the real
CLIs are driven in tests/realclients)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import cli
from tests.helpers.daemon import AgentHome, DaemonProcess, ServerView, complete_lines, sha256
from tests.helpers.server import ServerProcess, login
from tests.helpers.wait import wait_for
from threadline.sync import engine
from threadline.watch import roots

#: README, "Capturing sessions": the daemon "uploads new lines within a second or so" (a 2 s
#: target). The bound is twice the target, so a loaded machine does not fail the tests.
LIVE_DEADLINE = 4.0


@pytest.fixture
def agent(tmp_path: Path, server: ServerProcess) -> Iterator[AgentHome]:
    home = AgentHome(tmp_path / "agent")
    login(home.threadline, server)
    yield home
    home.cli("daemon", "stop")


@pytest.fixture
def view(agent: AgentHome) -> Iterator[ServerView]:
    v = ServerView(agent.threadline)
    yield v
    v.close()


def server_bytes(view: ServerView, session_id: str, generation: int | None = None) -> bytes:
    thread = view.thread_by_session(session_id)
    return b"" if thread is None else view.transcript(thread["id"], generation)


def source_bytes(view: ServerView, path: Path) -> bytes:
    thread = view.thread_by_source(path)
    return b"" if thread is None else view.transcript(thread["id"])


def test_live_appends_reach_the_server_promptly(
    agent: AgentHome, view: ServerView, fixtures: Path
) -> None:
    original = (fixtures / "claude" / "spotter" / "tool_heavy.jsonl").read_bytes()
    path = agent.project_dir() / "4f7d0000-0000-4000-8000-000000000001.jsonl"
    cuts = [0, 1, 200, 3001, 3002, 9000, 20_000, 20_001, 31_000, len(original)]
    with DaemonProcess(agent):
        for start, end in itertools.pairwise(cuts):
            with path.open("ab") as fh:
                fh.write(original[start:end])
            expected = complete_lines(original[:end])
            if not expected:
                continue
            wait_for(
                partial(lambda want: source_bytes(view, path) == want, expected),
                LIVE_DEADLINE,
                what=f"the server to hold the first {len(expected)} bytes",
            )
    assert source_bytes(view, path) == original
    thread = view.thread_by_source(path)
    assert thread is not None and thread["kind"] == "claude-code"
    assert thread["entry_count"] == original.count(b"\n")
    assert thread["meta"]["session_id"] and thread["meta"]["tokens"]["output"] > 0


def test_rewrite_and_truncation_start_new_generations(agent: AgentHome, view: ServerView) -> None:
    lines = [
        json.dumps({"type": "user", "sessionId": "s-rw", "uuid": f"u{i}", "n": i}).encode()
        for i in range(8)
    ]
    path = agent.project_dir() / "s-rw.jsonl"
    first = b"\n".join(lines[:6]) + b"\n"
    truncated = b"\n".join(lines[:2]) + b"\n"
    rewritten = b"\n".join([lines[7], *lines[1:4]]) + b"\n"
    with DaemonProcess(agent):
        path.write_bytes(first)
        wait_for(lambda: server_bytes(view, "s-rw") == first, LIVE_DEADLINE, what="generation 1")
        path.write_bytes(truncated)
        wait_for(
            lambda: server_bytes(view, "s-rw") == truncated, LIVE_DEADLINE, what="generation 2"
        )
        path.write_bytes(rewritten)
        wait_for(
            lambda: server_bytes(view, "s-rw") == rewritten, LIVE_DEADLINE, what="generation 3"
        )
    assert server_bytes(view, "s-rw", generation=1) == first, "the server keeps what it had"
    assert server_bytes(view, "s-rw", generation=2) == truncated
    assert server_bytes(view, "s-rw", generation=3) == rewritten


def test_subagent_files_become_child_threads_of_their_session(
    agent: AgentHome, view: ServerView
) -> None:
    session = "5e55a000-0000-4000-8000-000000000001"
    folder = agent.claude / "projects" / "-work-new"  # created while the daemon runs
    main = folder / f"{session}.jsonl"
    sub = folder / session / "subagents" / "agent-a1b2c3.jsonl"

    def line(**fields: object) -> str:
        record = {"type": "user", "sessionId": session, "message": {"content": "x"}}
        return json.dumps({**record, **fields}) + "\n"

    # No rescan within the test: the watcher alone must find files in new folders.
    with DaemonProcess(agent, THREADLINE_DAEMON_RESCAN="600"):
        sub.parent.mkdir(parents=True)
        sub.write_text(line(isSidechain=True, agentId="a1b2c3", uuid="s1"))  # before its parent
        main.write_text(line(uuid="m1", message={"role": "user", "content": "Plan the work"}))
        wait_for(lambda: len(view.threads()) == 2, LIVE_DEADLINE, what="two threads")
    parent = view.thread_by_source(main)
    child = view.thread_by_source(sub)
    assert parent is not None and child is not None
    assert child["parent_id"] == parent["id"] and parent["child_count"] == 1
    assert child["key"] == f"claude-code:{session}/agent-a1b2c3"
    assert parent["title"] == "Plan the work"
    top = view.threads(top_level="true")
    assert [t["id"] for t in top] == [parent["id"]]


def test_odd_lines_reach_the_server_exactly(agent: AgentHome, view: ServerView) -> None:
    """Malformed JSON, invalid UTF-8, NUL, a lone surrogate escape, CR LF, an empty line and a
    5 MB line: all stored, the file given back byte for byte."""
    big = json.dumps({"type": "assistant", "sessionId": "s-odd", "text": "y" * 5_000_000})
    data = (
        b'{"type":"user","sessionId":"s-odd","message":{"content":"hi \\ud800 \\u0000"}}\n'
        + b"not json at all\n"
        + b'{"type":"user","bad":"\xff\xfe"}\n'
        + b'{"type":"user","nul":"a\x00b"}\n'
        + b'{"type":"user","crlf":1}\r\n'
        + b"\n"
        + big.encode() + b"\n"
    )  # fmt: skip
    path = agent.project_dir() / "s-odd.jsonl"
    with DaemonProcess(agent):
        path.write_bytes(data)
        wait_for(lambda: source_bytes(view, path) == data, 10, what="the file on the server")
    status = json.loads(agent.cli("sync", "status", "--json").stdout)
    assert status["pending"] == 0 and status["blocked"] == []


def copy_fixtures(fixtures: Path, agent: AgentHome) -> dict[Path, bytes]:
    """Every real transcript placed where its agent writes; ``{copy: original bytes}``."""
    copies: dict[Path, bytes] = {}
    for path in roots.walk(fixtures):
        rel = path.relative_to(fixtures)
        if rel.parts[0] == "codex":
            target = agent.codex / "sessions" / "2025" / "01" / "01" / path.name
            if not path.name.startswith("rollout-"):
                target = target.with_name("rollout-2025-01-01T00-00-00-" + path.name)
        else:
            target = agent.claude / "projects" / "-fixtures" / Path(*rel.parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copies[target] = path.read_bytes()
    return copies


def all_on_server(view: ServerView, copies: dict[Path, bytes]) -> bool:
    by_source = {t["meta"].get("source"): t for t in view.threads()}
    for path, data in copies.items():
        thread = by_source.get(str(path))
        if thread is None or thread["entry_count"] != data.count(b"\n"):
            return False
    return True


def lines_on_server(view: ServerView) -> int:
    return sum(t["entry_count"] for t in view.threads())


def test_sigkill_mid_upload_loses_and_duplicates_nothing(
    agent: AgentHome, view: ServerView, fixtures: Path
) -> None:
    daemon = DaemonProcess(agent).start()
    copies = copy_fixtures(fixtures, agent)
    total = sum(data.count(b"\n") for data in copies.values())
    # The daemon uploads one batch at a time: it is killed while more than a whole batch is
    # still to come, so whatever it had in flight, the server cannot end up holding everything.
    batch = engine.DEFAULT_BATCH_ENTRIES
    assert total > 2 * batch, "the upload takes several batches"

    def uploading() -> bool:
        held = lines_on_server(view)
        assert held < total - batch, f"the upload ran past the point to kill it ({held}/{total})"
        return held > 0

    wait_for(uploading, 30, 0.01, what="the upload to begin")
    daemon.kill()
    log = (agent.threadline / "log" / "daemon.log").read_text()
    assert "new lines" in log, "the daemon was killed before it read anything"
    held = lines_on_server(view)  # a batch in flight may still have been stored
    assert 0 < held < total, f"killed mid-upload: the server holds {held} of {total} lines"
    assert not all_on_server(view, copies)
    with DaemonProcess(agent):
        wait_for(lambda: all_on_server(view, copies), 60, what="every file on the server")
    by_source = {t["meta"]["source"]: t for t in view.threads()}
    for path, data in copies.items():
        thread = by_source[str(path)]
        assert sha256(view.transcript(thread["id"])) == sha256(data), path
        assert thread["entry_count"] == data.count(b"\n"), f"duplicates in {path}"
    assert lines_on_server(view) == total


def test_server_away_then_back_everything_arrives(
    agent: AgentHome, view: ServerView, server: ServerProcess
) -> None:
    path = agent.project_dir() / "s-away.jsonl"
    lines = [json.dumps({"type": "user", "sessionId": "s-away", "n": i}) for i in range(30)]
    with DaemonProcess(agent):
        path.write_text("\n".join(lines[:10]) + "\n")
        wait_for(
            lambda: len(server_bytes(view, "s-away").splitlines()) == 10,
            LIVE_DEADLINE,
            what="the first 10 lines on the server",
        )
        server.stop()
        with path.open("a") as fh:
            fh.write("\n".join(lines[10:]) + "\n")
        status: dict[str, object] = {}

        def queued() -> bool:
            status.update(json.loads(agent.cli("daemon", "status", "--json").stdout))
            return status["lines_pending"] == 20 and bool(status["last_error"])

        wait_for(queued, 10, interval=0.2, what="20 lines pending with an error")
        server.restart()
        wait_for(
            lambda: len(server_bytes(view, "s-away").splitlines()) == 30,
            10,
            what="all 30 lines on the server",
        )
    assert server_bytes(view, "s-away") == ("\n".join(lines) + "\n").encode()


def test_import_backfills_every_fixture_byte_identical_and_twice_sends_nothing(
    tmp_path: Path, server: ServerProcess, fixtures: Path
) -> None:
    home = tmp_path / "importer"
    login(home, server)
    first = cli.run(home, "import", str(fixtures), timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Uploaded" in first.stdout
    view = ServerView(home)
    try:
        by_source = {t["meta"]["source"]: t for t in view.threads()}
        files = list(roots.walk(fixtures))
        assert len(files) == len(by_source) >= 17
        for path in files:
            thread = by_source[str(path)]
            assert sha256(view.transcript(thread["id"])) == sha256(path.read_bytes()), path
        children = [t for t in by_source.values() if t.get("parent_key")]
        # The subagent file's parent session was not published with it.
        assert [(c["key"], c["parent_key"], c["parent_id"]) for c in children] == [
            (
                "claude-code:6c2214d7-b87e-4432-8e41-22ba294ea584/agent-afc096d",
                "claude-code:6c2214d7-b87e-4432-8e41-22ba294ea584",
                None,
            )
        ]
        # `thread list` names a session by its id and shows its title beside it.
        listed = cli.run(home, "thread", "list", "--all-projects").stdout.splitlines()
        assert listed[0].split()[-1] == "TITLE"
        ai_music = "d3ad4cdc-5657-435d-98fa-0035d53e383d"
        (row,) = [line for line in listed if ai_music in line]
        title = by_source[str(fixtures / "claude" / "sniffly" / f"{ai_music}.jsonl")]["title"]
        assert row.endswith(f"  {title}") and len(title) <= 60, (row, title)
        # `thread show` gives every entry a line: one without text says what it records.
        short = by_source[str(fixtures / "claude" / "spotter" / "short.jsonl")]
        shown = cli.run(home, "thread", "show", short["id"], "-p", "spotter").stdout
        assert shown.splitlines()[1] == "(progress/hook_progress)"
        assert "\n(no text)\n" in shown
        assert not re.search(r"^\[[^\]]+\] \w+[^\n]*\n\n", shown, re.M), "a header without a body"
        second = cli.run(home, "import", str(fixtures), timeout=300)
        assert second.returncode == 0, second.stderr
        assert "0 new lines" in second.stdout and "Nothing new to upload" in second.stdout
        assert sum(t["entry_count"] for t in view.threads()) == sum(
            p.read_bytes().count(b"\n") for p in files
        )
    finally:
        view.close()
