"""Where each agent keeps a session's transcript for a folder: the names the real CLIs use
(the tests in tests/realclients prove that the CLIs find files put there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from threadline.handoff import places

#: Claude's own fallback hash (Node / the SDK), as its source has it — run by node to check ours.
DJB2_JS = """
const name = process.argv[1];
let h = 0;
for (let i = 0; i < name.length; i++) h = ((h << 5) - h + name.charCodeAt(i)) | 0;
process.stdout.write(JSON.stringify({sanitized: name.replace(/[^a-zA-Z0-9]/g, "-"),
                                     hash: Math.abs(h).toString(36)}));
"""


@pytest.mark.parametrize(
    ("cwd", "folder"),
    [
        ("/Users/chip/dev/ai-music", "-Users-chip-dev-ai-music"),
        ("/home/user/my_project", "-home-user-my-project"),
        ("/Users/x/.local", "-Users-x--local"),
        # What Claude Code 2.1.332 made for this folder, seen on disk.
        (
            "/tmp/htrans-explore/run1/work dir/my.proj_x/sub",
            "-tmp-htrans-explore-run1-work-dir-my-proj-x-sub",
        ),
        ("/home/zoë/项目", "-home-zo----"),
        ("/home/a/🎉x", "-home-a---x"),  # one emoji is two UTF-16 code units: two dashes
        ("/home/e\u0301", "-home--"),  # NFC first: e + combining accent is one é
    ],
)
def test_claude_folder_names(cwd: str, folder: str) -> None:
    assert places.claude_folder_name(cwd) == folder


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run Claude's hash")
@pytest.mark.parametrize("tail", ["x" * 220, "dir/" * 60, "é" * 150 + "🎉" * 40])
def test_a_long_folder_is_cut_at_200_with_claudes_fallback_hash(tail: str) -> None:
    cwd = "/home/someone/" + tail
    node = subprocess.run(
        ["node", "-e", DJB2_JS, cwd], capture_output=True, text=True, check=True, timeout=30
    )
    expected = json.loads(node.stdout)
    name = places.claude_folder_name(cwd)
    assert name == f"{expected['sanitized'][:200]}-{expected['hash']}"


def test_a_long_folder_that_exists_with_another_hash_is_used(tmp_path: Path) -> None:
    cwd = tmp_path / ("y" * 230)
    cwd.mkdir()
    name = places.claude_folder_name(str(cwd.resolve()))
    made_by_the_cli = tmp_path / "config" / "projects" / f"{name[:200]}-bunhash1"
    made_by_the_cli.mkdir(parents=True)
    assert places.claude_project_dir(tmp_path / "config", str(cwd)) == made_by_the_cli
    assert len(name) > 200


def test_the_claude_folder_is_of_the_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    found = places.claude_project_dir(tmp_path / "cfg", str(tmp_path / "link"))
    assert found == tmp_path / "cfg" / "projects" / places.claude_folder_name(str(real.resolve()))


def test_config_folders_from_the_environment(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert places.claude_config_dir(home) == tmp_path / ".claude"
    assert places.codex_home(home) == tmp_path / ".codex"
    env = {**home, "CLAUDE_CONFIG_DIR": "/c/claude", "CODEX_HOME": "/c/codex"}
    assert places.claude_config_dir(env) == Path("/c/claude")
    assert places.codex_home(env) == Path("/c/codex")


SESSION = "6c2214d7-b87e-4432-8e41-22ba294ea584"


@pytest.mark.parametrize(
    ("agent_id", "source", "expected"),
    [
        (
            "afc096d",
            f"/home/a/.claude/projects/-x/{SESSION}/subagents/agent-afc096d.jsonl",
            f"{SESSION}/subagents/agent-afc096d.jsonl",
        ),
        ("af1ff21", "/home/a/.claude/projects/-x/agent-af1ff21.jsonl", "agent-af1ff21.jsonl"),
        ("acompact-fffbd0", None, f"{SESSION}/subagents/agent-acompact-fffbd0.jsonl"),
        # A source name that is not an agent file: the agent id names it.
        (
            "a1",
            f"/x/{SESSION}/subagents/../../../etc/passwd",
            f"{SESSION}/subagents/agent-a1.jsonl",
        ),
        ("../../x", "/x/subagents/evil.jsonl", None),
        (None, None, None),
    ],
)
def test_subagent_files_keep_their_layout_and_name(
    agent_id: str | None, source: str | None, expected: str | None
) -> None:
    project = Path("/cfg/projects/-p")
    found = places.claude_subagent_path(project, SESSION, agent_id, source)
    assert found == (project / expected if expected else None)


CODEX_ID = "01997ea4-a70d-7da3-8c20-c736db82a7c5"
CODEX_NAME = f"rollout-2025-09-24T20-12-23-{CODEX_ID}.jsonl"


def test_a_rollout_keeps_the_saving_machines_name(tmp_path: Path) -> None:
    source = f"/Users/j/.codex/sessions/2025/09/24/{CODEX_NAME}"
    name = places.codex_rollout_name(CODEX_ID, source, "2025-09-25T02:12:23.949Z")
    assert name == CODEX_NAME
    assert places.codex_rollout_path(tmp_path, CODEX_ID, name) == (
        tmp_path / "sessions" / "2025" / "09" / "24" / CODEX_NAME
    )


def test_a_rollout_without_a_usable_name_is_named_from_its_start_in_local_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/Denver")
    time.tzset()
    try:
        other = "/x/rollout-2025-09-24T20-12-23-01997e76-d124-7592-9cac-2ec05abbca08.jsonl"
        for source in (None, "/x/renamed.jsonl", other):
            name = places.codex_rollout_name(CODEX_ID, source, "2025-09-25T02:12:23.949Z")
            assert name == CODEX_NAME, source  # 02:12 UTC is 20:12 the day before in Denver
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_rollout_of_the_session_already_here_is_used_wherever_it_is(tmp_path: Path) -> None:
    there = (
        tmp_path
        / "sessions"
        / "2025"
        / "09"
        / "25"
        / f"rollout-2025-09-25T01-00-00-{CODEX_ID}.jsonl"
    )
    there.parent.mkdir(parents=True)
    there.write_bytes(b"")
    assert places.codex_rollout_path(tmp_path, CODEX_ID, CODEX_NAME) == there


@pytest.mark.parametrize("session", ["../x", ".hidden", "a/b", "", "x" * 200, "a\x00"])
def test_unsafe_session_ids(session: str) -> None:
    assert not places.safe_session_id(session)
    assert places.safe_session_id(SESSION) and places.safe_session_id(CODEX_ID)
