"""Placing a saved session's transcript on another machine, against a real server: the place,
the moved paths, the subagents, only the missing lines on the wire, a newer local copy
refused (and kept when forced), the saving machine's copy chosen, undo on failure, and the
read-only conversation. Real transcripts from the shared fixtures; the "machines" are homes
and clone folders under tmp_path."""

from __future__ import annotations

import io
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.proxy import RecordingProxy
from tests.helpers.server import ServerProcess, create_user_and_token
from threadline.client.api import Api
from threadline.errors import ServerRefused
from threadline.handoff import places
from threadline.handoff.rewrite import Rewriter
from threadline.handoff.transcripts import (
    FilePlan,
    TranscriptNotUploaded,
    TranscriptRefused,
    plan_transcript,
    print_conversation,
    resume_command,
    write_transcript,
)
from threadline.sources import claude_code, codex
from threadline.watch.session import entry_row

DEVICE_A = "2f6e0000-0000-4000-8000-00000000000a"
DEVICE_B = "2f6e0000-0000-4000-8000-00000000000b"
SPOTTER = "/home/marco/projects/spotter"
SPOTTER_SESSION = "491e126e-1e71-469c-ade2-fcc8af567c74"
AGENT_FILE = "6c2214d7-b87e-4432-8e41-22ba294ea584/subagents/agent-afc096d.jsonl"
CODEX_FILE = "rollout-2025-09-24T20-12-23-01997ea4-a70d-7da3-8c20-c736db82a7c5.jsonl"
CODEX_SESSION = "01997ea4-a70d-7da3-8c20-c736db82a7c5"
CODEX_ROOT = "/Users/jnarowski/Dev/spectora/src/spectora-labs-monorepo-v2"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server (SQLite) for the tests that do not depend on the database."""
    folder = tmp_path_factory.mktemp("server")
    with ServerProcess(folder / "home", f"sqlite:///{folder / 'server.db'}") as srv:
        yield srv


def account(server: ServerProcess, user: str = "alice") -> Api:
    return Api(server.url, create_user_and_token(server.database_url, user).token)


@dataclass
class Machine:
    """A home with the agents' folders and a clone of the project."""

    root: Path
    clone: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.root / "home"),
            "CLAUDE_CONFIG_DIR": str(self.root / "claude"),
            "CODEX_HOME": str(self.root / "codex"),
        }

    def tree(self) -> dict[str, bytes]:
        """Every file under the machine's folders, with its bytes."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def machine_b(tmp_path: Path) -> Machine:
    clone = tmp_path / "B" / "work" / "clone of spotter.v2_x"
    clone.mkdir(parents=True)
    return Machine(tmp_path / "B", clone)


def push_file(
    api: Api,
    data: bytes,
    *,
    key: str,
    kind: str,
    device: str,
    source: str,
    meta: dict[str, Any],
    parent_key: str | None = None,
    stream_id: str | None = None,
    upto: int | None = None,
    after: int = 0,
) -> tuple[str, str]:
    """Push a file's lines ``after + 1 … upto`` as a capture would; (thread id, stream id)."""
    stream_id = stream_id or str(uuid.uuid4())
    thread: dict[str, Any] = {"key": key, "kind": kind, "name": key.split(":")[1][:100]}
    thread.update(project="shop", meta=meta)
    if parent_key:
        thread["parent_key"] = parent_key
    entries = captured(data, kind)[after:upto]
    stream = {"stream_id": stream_id, "thread": thread, "entries": entries, "source": source}
    answer = api.push(device, [stream])
    assert not answer.get("errors"), answer
    return str(answer["streams"][0]["thread_id"]), stream_id


def place(api: Api, save: dict[str, Any], machine: Machine) -> None:
    plan = plan_transcript(api, save, machine.clone, machine.env)
    write_transcript(api, plan, save, machine.clone, env=machine.env)


def captured(data: bytes, agent: str) -> list[dict[str, Any]]:
    """The file's lines as the capture pushes them: raw line, and the real parser's
    projection (role, text, parts, meta)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transcript.jsonl"
        path.write_bytes(data)
        parse = claude_code.parse_file if agent == "claude-code" else codex.parse_file
        lines, _ = parse(path)
    out = []
    for line in lines:
        seq, ts, role, text, parts, meta, raw = entry_row(line, "2026-11-30T10:00:00Z")
        entry = {"seq": seq, "id": str(uuid.uuid4()), "ts": ts, "role": role, "text": text}
        entry.update(raw=raw, parts=json.loads(parts) if parts else None)
        entry["meta"] = json.loads(meta) if meta else None
        out.append(entry)
    assert len(out) == data.count(b"\n")
    return out


def save_of(thread_id: str, agent: str, session: str, lines: int, root: str) -> dict[str, Any]:
    return {
        "save_id": str(uuid.uuid4()),
        "thread_id": thread_id,
        "session_id": session,
        "agent": agent,
        "line_count": lines,
        "repo_root": root,
        "cwd": root,
        "device": "machine-a",
        "created": "2026-11-30T10:00:00Z",
    }


def moved(data: bytes, old: str, new: Path) -> bytes:
    rewriter = Rewriter(old, os.path.realpath(new))
    return b"".join(rewriter.line(line) for line in data.splitlines(keepends=True))


def spotter_session(api: Api, fixtures: Path, upto: int | None = None) -> tuple[str, bytes]:
    """The spotter session (and its subagent) captured from machine A; (thread id, bytes)."""
    data = (fixtures / "claude" / "spotter" / "subagent.jsonl").read_bytes()
    projects = "/home/marco/.claude/projects/-home-marco-projects-spotter"
    key = f"claude-code:{SPOTTER_SESSION}"
    meta = {"agent": "claude-code", "session_id": SPOTTER_SESSION, "cwd": SPOTTER}
    thread_id, _ = push_file(
        api,
        data,
        key=key,
        kind="claude-code",
        device=DEVICE_A,
        source=f"{projects}/{SPOTTER_SESSION}.jsonl",
        meta=meta,
        upto=upto,
    )
    agent = (fixtures / "claude" / "spotter" / AGENT_FILE).read_bytes()
    push_file(
        api,
        agent,
        key=f"{key}/agent-afc096d",
        kind="claude-code",
        device=DEVICE_A,
        source=f"{projects}/{SPOTTER_SESSION}/subagents/agent-afc096d.jsonl",
        meta={**meta, "agent_id": "afc096d"},
        parent_key=key,
    )
    return thread_id, data


def test_a_claude_session_goes_where_claude_looks_with_its_subagent_and_paths_moved(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    api = account(live)
    thread_id, data = spotter_session(api, fixtures)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 96, SPOTTER)
    plan = plan_transcript(api, save, machine_b.clone, machine_b.env)

    project = (
        machine_b.root
        / "claude"
        / "projects"
        / places.claude_folder_name(os.path.realpath(machine_b.clone))
    )
    assert project.name.endswith("-work-clone-of-spotter-v2-x")
    assert plan.path == project / f"{SPOTTER_SESSION}.jsonl"
    assert [p for _, p in plan.subagents] == [
        project / SPOTTER_SESSION / "subagents" / "agent-afc096d.jsonl"
    ]
    assert (plan.have_lines, plan.total_lines, plan.refuse) == (0, 96, None)
    assert plan.cwd == Path(os.path.realpath(machine_b.clone))
    assert machine_b.tree() == {}, "planning writes nothing"

    result = write_transcript(api, plan, save, machine_b.clone, env=machine_b.env)
    assert plan.path.read_bytes() == moved(data, SPOTTER, machine_b.clone)
    assert f'"cwd":"{os.path.realpath(machine_b.clone)}"'.encode() in plan.path.read_bytes()
    agent = (fixtures / "claude" / "spotter" / AGENT_FILE).read_bytes()
    assert plan.subagents[0][1].read_bytes() == moved(agent, SPOTTER, machine_b.clone)
    assert result.path == plan.path
    assert result.lines_downloaded == 96 + 199
    assert result.bytes_downloaded == len(data) + len(agent)
    assert 0 < result.wire_bytes < result.bytes_downloaded, "gzip on the wire"
    assert sorted(result.written) == sorted([plan.path, plan.subagents[0][1]])
    assert not [p for p in machine_b.tree() if ".tmp" in p or ".orig" in p]
    assert resume_command("claude-code", SPOTTER_SESSION) == f"claude --resume {SPOTTER_SESSION}"

    # Resumed again: everything is here, nothing is downloaded, the file is the latest.
    os.utime(plan.path, (1_000_000, 1_000_000))
    again = plan_transcript(api, save, machine_b.clone, machine_b.env)
    assert (again.have_lines, again.refuse) == (96, None)
    second = write_transcript(api, again, save, machine_b.clone, env=machine_b.env)
    assert (second.lines_downloaded, second.bytes_downloaded, second.written) == (0, 0, [])
    assert plan.path.stat().st_mtime > 1_000_000


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_a_second_resume_downloads_only_the_new_lines(
    module_server: ServerProcess, fixtures: Path, machine_b: Machine, agent: str
) -> None:
    """On both databases (one server each for the module; the user is new to it)."""
    server = module_server
    proxy = RecordingProxy("127.0.0.1", server.port)
    try:
        token = create_user_and_token(server.database_url, f"second-{agent}").token
        api, watched = Api(server.url, token), Api(proxy.url, token)
        if agent == "codex":
            path = fixtures / "codex" / "agentcmd" / "sessions" / "2025" / "09" / "24" / CODEX_FILE
            session, root = CODEX_SESSION, CODEX_ROOT
            source = f"/Users/j/.codex/sessions/2025/09/24/{CODEX_FILE}"
        else:
            path = fixtures / "claude" / "sniffly" / "d3ad4cdc-5657-435d-98fa-0035d53e383d.jsonl"
            session, root = path.stem, "/Users/chip/dev/ai-music"
            source = f"/Users/chip/.claude/projects/-Users-chip-dev-ai-music/{path.name}"
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        first = len(lines) - 10
        meta = {"agent": agent, "session_id": session, "started": "2025-09-25T02:12:23.949Z"}
        common: dict[str, Any] = {"key": f"{agent}:{session}", "kind": agent, "meta": meta}
        common.update(device=DEVICE_A, source=source)
        thread_id, stream_id = push_file(api, data, upto=first, **common)
        save = save_of(thread_id, agent, session, first, root)
        place(api, save, machine_b)

        push_file(api, data, after=first, stream_id=stream_id, **common)  # 10 more lines
        later = save_of(thread_id, agent, session, len(lines), root)
        proxy.clear()
        plan = plan_transcript(watched, later, machine_b.clone, machine_b.env)
        assert (plan.have_lines, plan.total_lines, plan.refuse) == (first, len(lines), None)
        result = write_transcript(watched, plan, later, machine_b.clone, env=machine_b.env)

        assert plan.path.read_bytes() == moved(data, root, machine_b.clone)
        tail = b"".join(lines[first:])
        assert (result.lines_downloaded, result.bytes_downloaded) == (10, len(tail))
        asked = [r for r in proxy.requests if "/transcript" in r.path]
        assert [r.path.split("?")[0].rsplit("/", 1)[-1] for r in asked] == [
            "digest",
            "transcript",
        ], "one digest of the lines here, then the tail only"
        digest, download = (r.response for r in asked)
        assert digest is not None and download is not None
        assert digest.json()["lines"] == first and digest.json()["lines_total"] == len(lines)
        assert download.body == tail
        assert f"from_line={first}" in asked[-1].path
        if agent == "codex":
            expected = machine_b.root / "codex" / "sessions" / "2025" / "09" / "24" / CODEX_FILE
            assert plan.path == expected
            assert resume_command(agent, session) == f"codex resume {session}"
            assert result.notes and "codex is not on the PATH" in result.notes[0]
        else:
            assert result.notes == []
        print(
            f"{agent}: second resume after 10 new lines: {len(digest.body) + len(tail)} bytes "
            f"answered ({result.wire_bytes} on the wire for the tail) of a {len(data)}-byte file"
        )
    finally:
        proxy.close()


def test_a_newer_local_copy_is_refused_and_force_keeps_it(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    api = account(live)
    thread_id, data = spotter_session(api, fixtures, upto=90)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 90, SPOTTER)
    place(api, save, machine_b)
    main = plan_transcript(api, save, machine_b.clone, machine_b.env).path
    went_on = main.read_bytes() + b'{"type":"user","said":"on B, after the resume"}\n'
    main.write_bytes(went_on)

    plan = plan_transcript(api, save, machine_b.clone, machine_b.env)
    assert plan.refuse is not None and "91 lines, 1 more than the save" in plan.refuse
    before = machine_b.tree()
    with pytest.raises(TranscriptRefused, match="would be lost") as refused:
        write_transcript(api, plan, save, machine_b.clone, env=machine_b.env)
    assert refused.value.status == 409 and "--force" in refused.value.hint
    assert machine_b.tree() == before, "refused: nothing written"

    result = write_transcript(api, plan, save, machine_b.clone, force=True, env=machine_b.env)
    assert main.read_bytes() == moved(
        b"".join(data.splitlines(True)[:90]), SPOTTER, machine_b.clone
    )
    [backup] = result.backups
    assert backup.read_bytes() == went_on and backup.name.startswith(f"{main.name}.replaced-")

    # A local copy that differs from the save is refused the same way.
    changed = main.read_bytes().replace(b'"isSidechain":false', b'"isSidechain":true ', 1)
    main.write_bytes(changed)
    differs = plan_transcript(api, save, machine_b.clone, machine_b.env)
    assert differs.refuse is not None and "first 90 lines differ" in differs.refuse
    with pytest.raises(TranscriptRefused):
        write_transcript(api, differs, save, machine_b.clone, env=machine_b.env)
    assert main.read_bytes() == changed


def test_the_saving_machines_copy_is_chosen_and_cut_at_the_save(
    live: ServerProcess, fixtures: Path, machine_b: Machine, tmp_path: Path
) -> None:
    """The session went A → C → (saved on C) …: the server has A's copy (A's paths) and C's
    (C's paths, longer, and grown after the save). A resume of C's save takes C's copy, up to
    the save's line count, and moves C's paths."""
    api = account(live)
    path = fixtures / "claude" / "agentcmd" / "full-session-four.jsonl"
    data, session = path.read_bytes(), "2d984148-cddb-4605-aac1-13e720fe613c"
    root_a = "/Users/jnarowski/Dev/sourceborn/src/agent-workflows-monorepo-v2"
    root_c = "/home/jn/elsewhere/agent-workflows"
    on_c = b"".join(Rewriter(root_a, root_c).line(x) for x in data.splitlines(True))
    meta = {"agent": "claude-code", "session_id": session}
    common: dict[str, Any] = {"key": f"claude-code:{session}", "kind": "claude-code", "meta": meta}
    thread_id, _ = push_file(api, data, device=DEVICE_A, source="/a/x.jsonl", **common)
    _, from_c = push_file(api, on_c, device=DEVICE_B, source="/c/x.jsonl", **common)
    save = save_of(thread_id, "claude-code", session, 80, root_c)

    plan = plan_transcript(api, save, machine_b.clone, machine_b.env)
    assert plan.stream_id == from_c
    write_transcript(api, plan, save, machine_b.clone, env=machine_b.env)
    expected = moved(b"".join(on_c.splitlines(True)[:80]), root_c, machine_b.clone)
    assert plan.path.read_bytes() == expected

    with pytest.raises(TranscriptNotUploaded, match=r"holds 89 lines .* needs 95") as waiting:
        plan_transcript(api, {**save, "line_count": 95}, machine_b.clone, machine_b.env)
    assert "threadline sync" in waiting.value.hint


def test_a_failure_part_way_puts_everything_back(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    api = account(live)
    thread_id, _ = spotter_session(api, fixtures, upto=50)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 50, SPOTTER)
    place(api, save, machine_b)
    subagent_folder = machine_b.root / "claude" / "projects"
    for folder in sorted(subagent_folder.rglob("subagents"), reverse=True):
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
        folder.parent.rmdir()
    before = machine_b.tree()

    spotter_session(api, fixtures)  # the rest of the lines (same stream ids: a new thread push)
    later = {**save, "line_count": 96}
    plan = plan_transcript(api, later, machine_b.clone, machine_b.env)
    assert plan.have_lines == 50
    broken = replace(
        plan,
        files=(
            plan.files[0],
            *(replace(f, stream_id=str(uuid.uuid4())) for f in plan.files[1:]),
        ),
    )
    with pytest.raises(ServerRefused) as failed:
        write_transcript(api, broken, later, machine_b.clone, env=machine_b.env)
    assert failed.value.status == 404
    assert machine_b.tree() == before, "the main file has its old lines back, no folder is left"


def test_read_only_prints_the_conversation_and_writes_nothing(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    api = account(live)
    thread_id, _ = spotter_session(api, fixtures)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 96, SPOTTER)
    out = io.StringIO()
    print_conversation(api, save, out)
    text = out.getvalue()
    assert f"claude-code session {SPOTTER_SESSION} · 96 lines" in text
    assert "You:\n" in text and "Assistant:\n" in text
    assert "  → Task: " in text or "  → Bash: " in text
    assert "  ← " in text
    assert machine_b.tree() == {}


def test_another_users_save_is_not_found(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    thread_id, _ = spotter_session(account(live), fixtures)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 96, SPOTTER)
    bob = account(live, "bob")
    with pytest.raises(ServerRefused) as missing:
        plan_transcript(bob, save, machine_b.clone, machine_b.env)
    assert missing.value.status == 404
    with pytest.raises(ServerRefused):
        print_conversation(bob, save, io.StringIO())
    assert machine_b.tree() == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("agent", "aider", "only claude-code and codex"),
        ("session_id", "../../etc/x", "cannot name a file"),
        ("thread_id", None, "names no thread"),
        ("repo_root", "/", "not an absolute folder"),
        ("line_count", "12", "not a number of lines"),
        ("line_count", -1, "not a number of lines"),
    ],
)
def test_a_save_that_cannot_be_placed_is_refused_before_anything(
    live: ServerProcess, machine_b: Machine, field: str, value: Any, message: str
) -> None:
    save = save_of(str(uuid.uuid4()), "codex", CODEX_SESSION, 3, CODEX_ROOT)
    save[field] = value
    with pytest.raises(Exception, match=message) as refused:
        plan_transcript(account(live), save, machine_b.clone, machine_b.env)
    assert getattr(refused.value, "status", None) == 400
    assert machine_b.tree() == {}


def test_a_file_plan_lists_the_main_file_first(
    live: ServerProcess, fixtures: Path, machine_b: Machine
) -> None:
    api = account(live)
    thread_id, _ = spotter_session(api, fixtures)
    save = save_of(thread_id, "claude-code", SPOTTER_SESSION, 96, SPOTTER)
    plan = plan_transcript(api, save, machine_b.clone, machine_b.env)
    assert isinstance(plan.files[0], FilePlan) and plan.files[0].path == plan.path
    assert plan.files[0].thread_id == thread_id and len(plan.files) == 2
