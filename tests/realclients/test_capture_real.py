"""The real Claude Code and Codex CLIs, with hooks installed by ``threadline hooks install``:
the hooks fire, start the daemon, and every session (three turns: a first prompt and two
resumes) reaches a real server complete and byte-identical.

Everything networked runs inside one loopback-only namespace: the stub model, ``threadline
serve``, the CLIs, the hooks and the daemon they start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.wait import wait_for
from tests.realclients import harness as h

PORT = 18787
PASSWORD = "real-clients-admin-password"
BIN = Path(sys.executable).parent

FETCH = """\
import json, sys, urllib.request
base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
def get(path):
    request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()
threads = json.loads(get("/api/v1/threads?limit=500"))["threads"]
index = []
for i, thread in enumerate(threads):
    data = get("/api/v1/threads/" + thread["id"] + "/transcript")
    open(f"{out}/{i}.jsonl", "wb").write(data)
    index.append({"file": f"{i}.jsonl", "thread": thread})
json.dump(index, open(out + "/index.json", "w"))
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_hooked_sessions_of_both_clis_reach_the_server_byte_identical(
    clis: Path, tmp_path: Path
) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    claude_config, codex_home = tmp_path / "claude", tmp_path / "codex"
    client_home, server_home = tmp_path / "threadline", tmp_path / "server"
    for folder in (home, project, claude_config, codex_home, client_home, server_home):
        folder.mkdir()
    env = h.client_env(
        clis,
        home=home,
        claude_config=claude_config,
        codex_home=codex_home,
        path_extra=[BIN],
        extra={"THREADLINE_HOME": str(client_home), "THREADLINE_DAEMON_RETRY_MAX": "1"},
    )
    h.write_claude_config(claude_config, trusted_dirs=[project])
    h.write_codex_config(codex_home)
    fetch = tmp_path / "fetch.py"
    fetch.write_text(FETCH)
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        server_env = {**env, "THREADLINE_HOME": str(server_home)}
        server_env["THREADLINE_ADMIN_PASSWORD"] = PASSWORD
        connect = f"import socket; socket.create_connection(('127.0.0.1', {PORT}))"
        probe = shlex.join([sys.executable, "-c", connect])
        ns.start(f"exec threadline serve --port {PORT}", env=server_env, ready=probe)
        url = f"http://127.0.0.1:{PORT}"
        ns.run(
            f"threadline login --server {url} --user admin --password-stdin",
            env=env,
            stdin=PASSWORD + "\n",
        ).check()
        ns.run("threadline hooks install --trust", env=env).check()
        try:
            claude_path, codex_path = _three_turns_each(ns, env, project, claude_config, codex_home)
            expected = {str(claude_path): claude_path, str(codex_path): codex_path}
            token = json.loads((client_home / "credentials.json").read_text())["token"]
            out = tmp_path / "downloaded"
            out.mkdir()
            got: dict[str, bytes] = {}
            index: list[dict[str, Any]] = []

            def downloaded() -> bool:
                ns.run(
                    shlex.join([sys.executable, str(fetch), url, token, str(out)]), env=env
                ).check()
                index[:] = json.loads((out / "index.json").read_text())
                got.clear()
                got.update(
                    (item["thread"]["meta"].get("source"), (out / item["file"]).read_bytes())
                    for item in index
                )
                return all(got.get(k) == p.read_bytes() for k, p in expected.items())

            with contextlib.suppress(AssertionError):  # the comparison below says what differs
                wait_for(downloaded, 30, 0.5, what="both transcripts on the server")
            for source, path in expected.items():
                assert sha(got.get(source, b"")) == sha(path.read_bytes()), source
            threads = {i["thread"]["meta"].get("source"): i["thread"] for i in index}
            assert threads[str(claude_path)]["kind"] == "claude-code"
            assert threads[str(codex_path)]["kind"] == "codex"
            for thread in threads.values():
                assert thread["meta"]["cwd"] == str(project)
            status = json.loads(ns.run("threadline hooks status --json", env=env).stdout)
            assert sorted(a["agent"] for a in status) == ["claude-code", "codex"], status
            for agent in status:
                for event in ("SessionStart", "UserPromptSubmit", "SessionEnd"):
                    assert agent["events"][event]["last_fired"], (agent["agent"], event)
            codex_status = next(a for a in status if a["agent"] == "codex")
            assert codex_status["trusted"] == "trusted"
            hooks_log = (client_home / "log" / "hooks.log").read_text()
            assert "started the daemon" in hooks_log, "a hook started the daemon"
        finally:
            ns.run("threadline daemon stop", env=env)


def _three_turns_each(
    ns: h.LoopbackNamespace,
    env: dict[str, str],
    project: Path,
    claude_config: Path,
    codex_home: Path,
) -> tuple[Path, Path]:
    """A first prompt and two resumes with each CLI; the transcripts' paths."""
    first = ns.run('claude -p "first turn" --output-format json', env=env, cwd=project).check()
    session_id = json.loads(first.stdout)["session_id"]
    for prompt in ("second turn", "third turn"):
        ns.run(
            f'claude -p --resume {session_id} "{prompt}" --output-format json',
            env=env,
            cwd=project,
        ).check()
    prompts: list[Any] = ns.model_requests()[-1]["prompts"]
    assert prompts[:1] == ["first turn"] and prompts[-1] == "third turn"
    flags = "--json --skip-git-repo-check"
    started = ns.run(f'codex exec {flags} "first turn"', env=env, cwd=project).check()
    thread_id = h.codex_thread_id(started)
    for prompt in ("second turn", "third turn"):
        ns.run(f'codex exec resume {flags} {thread_id} "{prompt}"', env=env, cwd=project).check()
    transcript = h.claude_transcript(claude_config, project, session_id)
    rollout = h.codex_rollout(codex_home, thread_id)
    assert transcript.exists() and rollout is not None
    assert "third turn" in transcript.read_text() and "third turn" in rollout.read_text()
    return transcript, rollout
