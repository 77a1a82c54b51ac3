"""The real Claude Code and Codex CLIs, driven against the stub model in a loopback namespace.

These tests prove the harness itself: transcripts are written where expected, resume sends the
earlier turns, hooks fire with the fields threadline relies on, and Codex hook trust can be
recorded without Codex's help.
"""

from __future__ import annotations

import http.client
import json
import shlex
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.realclients import harness as h
from tests.realclients.stub_model import StubServer, user_prompts

# --------------------------------------------------------------------------- the stub alone


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    log = tmp_path / "requests.jsonl"
    server = StubServer(("127.0.0.1", 0), log)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], log
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _request(port: int, method: str, path: str, body: Any = None) -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


def test_stub_prompts_skip_injected_text() -> None:
    messages = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x"}]},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "again"},
        ]
    }
    assert user_prompts(messages) == ["hello", "again"]

    def item(role: str, text: str) -> dict[str, Any]:
        return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}

    responses = {"input": [item("user", "<env"), item("user", "hi"), item("assistant", "x")]}
    assert user_prompts(responses) == ["hi"]


def test_stub_answers_both_apis(stub: tuple[int, Path]) -> None:
    port, log = stub
    assert _request(port, "HEAD", "/")[0] == 200
    messages = {"model": "m", "messages": [{"role": "user", "content": "one"}]}
    status, kind, text = _request(port, "POST", "/v1/messages?beta=true", messages)
    assert (status, kind) == (200, "application/json")
    assert json.loads(text)["content"][0]["text"].endswith('seen prompts: ["one"]')
    status, kind, text = _request(port, "POST", "/v1/messages", {**messages, "stream": True})
    assert kind == "text/event-stream"
    assert text.startswith("event: message_start") and "event: message_stop" in text
    status, kind, text = _request(
        port, "POST", "/v1/responses", {"model": "m", "input": "two", "stream": True}
    )
    assert kind == "text/event-stream" and "event: response.completed" in text
    status, _, text = _request(port, "POST", "/v1/responses", {"model": "m", "input": "three"})
    assert json.loads(text)["output"][0]["content"][0]["text"].endswith('["three"]')
    counted = _request(port, "POST", "/v1/messages/count_tokens?beta=true", messages)
    assert json.loads(counted[2]) == {"input_tokens": 10}
    assert _request(port, "GET", "/v1/models")[0] == 200
    logged = h.read_jsonl(log)
    assert [entry.get("prompts") for entry in logged] == [
        ["one"],
        ["one"],
        ["two"],
        ["three"],
        None,
        None,
    ]


# --------------------------------------------------------------------------- the namespace

PROBE = """\
import socket, sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:18081/").status)
print(urllib.request.urlopen("http://127.0.0.1:18080/").status)
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    print("internet reachable")
except OSError:
    print("internet unreachable")
"""


@pytest.mark.slow
def test_namespace_runs_background_processes_and_is_loopback_only(tmp_path: Path) -> None:
    h.require_namespace()
    (tmp_path / "probe.py").write_text(PROBE)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    python = shlex.quote(sys.executable)
    ready = f"{python} -c 'import socket; socket.create_connection((\"127.0.0.1\", 18081))'"
    run = h.run_in_namespace(
        [f"{python} probe.py", "ip -o link show | wc -l", "false", "echo never"],
        workdir=tmp_path / "ns",
        env=env,
        cwd=tmp_path,
        before=[f"exec {python} -m http.server --bind 127.0.0.1 18081"],
        before_ready=[ready],
    )
    assert run.steps[0].stdout.split() == ["200", "200", "internet", "unreachable"]
    assert run.steps[1].stdout.strip() == "1"  # only lo
    assert run.returncodes == [0, 0, 1]  # stops at the first failing step
    assert [entry["path"] for entry in run.requests] == ["/"]
    # Nothing is left listening once the namespace is closed.
    assert run.before[0].process.poll() is not None


# --------------------------------------------------------------------------- real clients


@dataclass
class Setup:
    ns: h.LoopbackNamespace
    root: Path
    home: Path
    project: Path
    claude_config: Path
    codex_home: Path
    env: dict[str, str]
    hook_log: Path
    hook_command: str

    def hook_events(self) -> list[dict[str, Any]]:
        return h.read_jsonl(self.hook_log)


@pytest.fixture
def setup(clis: Path, tmp_path: Path) -> Iterator[Setup]:
    home, project = tmp_path / "home", tmp_path / "project"
    claude_config, codex_home = tmp_path / "claude", tmp_path / "codex"
    for folder in (home, project, claude_config, codex_home):
        folder.mkdir()
    hook_log = tmp_path / "hooks.jsonl"
    env = h.client_env(clis, home=home, claude_config=claude_config, codex_home=codex_home)
    with h.LoopbackNamespace(tmp_path / "ns") as ns:
        yield Setup(
            ns=ns,
            root=tmp_path,
            home=home,
            project=project,
            claude_config=claude_config,
            codex_home=codex_home,
            env=env,
            hook_log=hook_log,
            hook_command=h.recording_hook(tmp_path / "bin", hook_log),
        )


def _types(path: Path) -> set[str]:
    return {str(line.get("type")) for line in h.read_jsonl(path)}


@pytest.mark.slow
def test_claude_print_and_resume(setup: Setup) -> None:
    h.write_claude_config(setup.claude_config, trusted_dirs=[setup.project])
    run = setup.ns.run
    first = run('claude -p "hello" --output-format json', env=setup.env, cwd=setup.project)
    session_id = json.loads(first.check().stdout)["session_id"]
    transcript = h.claude_transcript(setup.claude_config, setup.project, session_id)
    assert transcript.exists(), h.claude_transcripts(setup.claude_config)
    assert {"user", "assistant"} <= _types(transcript)

    second = run(
        f'claude -p --resume {session_id} "second question" --output-format json',
        env=setup.env,
        cwd=setup.project,
    )
    assert json.loads(second.check().stdout)["session_id"] == session_id
    last = setup.ns.model_requests()[-1]
    assert last["prompts"][:1] == ["hello"] and last["prompts"][-1] == "second question"
    assert "second question" in transcript.read_text()
    assert h.claude_transcripts(setup.claude_config) == [transcript]


@pytest.mark.slow
def test_claude_hooks(setup: Setup) -> None:
    events = ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")
    h.write_claude_config(setup.claude_config, hooks=h.hooks_config(events, setup.hook_command))
    first = setup.ns.run('claude -p "hello" --output-format json', env=setup.env, cwd=setup.project)
    session_id = json.loads(first.check().stdout)["session_id"]
    setup.ns.run(f'claude -p --resume {session_id} "again"', env=setup.env, cwd=setup.project)
    transcript = h.claude_transcript(setup.claude_config, setup.project, session_id)

    fired = setup.hook_events()
    assert [e["hook_event_name"] for e in fired] == list(events) * 2
    for event in fired:
        assert event["session_id"] == session_id
        assert event["transcript_path"] == str(transcript)
        assert event["cwd"] == str(setup.project)
        assert event["_env"]["CLAUDE_PROJECT_DIR"] == str(setup.project)
    assert [e.get("source") for e in fired if e["hook_event_name"] == "SessionStart"] == [
        "startup",
        "resume",
    ]
    assert [e.get("prompt") for e in fired if e["hook_event_name"] == "UserPromptSubmit"] == [
        "hello",
        "again",
    ]
    assert all(e.get("reason") for e in fired if e["hook_event_name"] == "SessionEnd")
    # At SessionEnd the transcript holds the whole turn.
    assert fired[3]["_transcript_lines"] and fired[3]["_transcript_lines"] >= 2


def _codex(setup: Setup, arguments: str, *, bypass: bool = False) -> h.StepResult:
    flags = "--json --skip-git-repo-check"
    if bypass:
        flags += " --dangerously-bypass-hook-trust"
    if arguments.startswith("resume "):
        command = f"codex exec resume {flags} {arguments.removeprefix('resume ')}"
    else:
        command = f"codex exec {flags} {arguments}"
    return setup.ns.run(command, env=setup.env, cwd=setup.project)


@pytest.mark.slow
def test_codex_exec_and_resume(setup: Setup) -> None:
    h.write_codex_config(setup.codex_home)
    first = _codex(setup, '"hello"').check()
    thread_id = h.codex_thread_id(first)
    messages = [e for e in first.json_lines() if e.get("item", {}).get("type") == "agent_message"]
    assert messages and "hello" in messages[-1]["item"]["text"]
    rollout = h.codex_rollout(setup.codex_home, thread_id)
    assert rollout is not None, h.codex_rollouts(setup.codex_home)

    second = _codex(setup, f'resume {thread_id} "again"').check()
    assert h.codex_thread_id(second) == thread_id
    assert setup.ns.model_requests()[-1]["prompts"] == ["hello", "again"]
    assert h.codex_rollouts(setup.codex_home) == [rollout]
    records = h.read_jsonl(rollout)
    assert {"session_meta", "response_item"} <= {str(r.get("type")) for r in records}
    assert "again" in rollout.read_text()


CODEX_ALL_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PreCompact",
    "PostCompact",
    "SubagentStart",
    "SubagentStop",
    "Stop",
    "SessionEnd",
    "Interrupt",
)


@pytest.mark.slow
def test_codex_hooks(setup: Setup) -> None:
    h.write_codex_config(
        setup.codex_home, hooks=h.hooks_config(CODEX_ALL_EVENTS, setup.hook_command)
    )
    thread_id = h.codex_thread_id(_codex(setup, '"hello"', bypass=True).check())
    _codex(setup, f'resume {thread_id} "again"', bypass=True).check()
    rollout = h.codex_rollout(setup.codex_home, thread_id)

    fired = setup.hook_events()
    names = ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"]
    assert [e["hook_event_name"] for e in fired] == names * 2
    for event in fired:
        assert event["session_id"] == thread_id
        assert event["transcript_path"] == str(rollout)
        assert event["cwd"] == str(setup.project)
    assert [e.get("source") for e in fired if e["hook_event_name"] == "SessionStart"] == [
        "startup",
        "resume",
    ]
    assert [e.get("prompt") for e in fired if e["hook_event_name"] == "UserPromptSubmit"] == [
        "hello",
        "again",
    ]
    stop = fired[2]
    assert "hello" in stop["last_assistant_message"] and stop["turn_id"]
    assert fired[3]["_transcript_lines"] and fired[3]["_transcript_lines"] >= 3


@pytest.mark.slow
def test_codex_hook_trust(setup: Setup) -> None:
    events = ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")
    hooks = h.hooks_config(events, setup.hook_command)
    hooks["Stop"][0]["hooks"][0]["timeout"] = 30
    h.write_codex_config(setup.codex_home, hooks=hooks)

    # Untrusted hooks are skipped silently.
    _codex(setup, '"untrusted"').check()
    assert setup.hook_events() == []

    listed = h.codex_app_server(
        setup.ns, [("hooks/list", {"cwds": [str(setup.project)]})], env=setup.env, cwd=setup.project
    )[0]["result"]["data"][0]["hooks"]
    assert {hook["trustStatus"] for hook in listed} == {"untrusted"}
    expected = h.codex_hook_trust_states(setup.codex_home)
    assert {hook["key"]: hook["currentHash"] for hook in listed} == expected

    h.trust_codex_hooks(setup.codex_home)
    listed = h.codex_app_server(
        setup.ns, [("hooks/list", {"cwds": [str(setup.project)]})], env=setup.env, cwd=setup.project
    )[0]["result"]["data"][0]["hooks"]
    assert {hook["trustStatus"] for hook in listed} == {"trusted"}
    _codex(setup, '"trusted"').check()
    assert [e["hook_event_name"] for e in setup.hook_events()] == list(events)

    # Any change to a hook's definition leaves it "modified" (and skipped) until trusted again.
    hooks["Stop"][0]["hooks"][0]["timeout"] = 31
    (setup.codex_home / "hooks.json").write_text(json.dumps({"hooks": hooks}))
    listed = h.codex_app_server(
        setup.ns, [("hooks/list", {"cwds": [str(setup.project)]})], env=setup.env, cwd=setup.project
    )[0]["result"]["data"][0]["hooks"]
    assert {hook["eventName"]: hook["trustStatus"] for hook in listed}["stop"] == "modified"
