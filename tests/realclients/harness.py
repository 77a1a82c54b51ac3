"""Drive the real Claude Code and Codex CLIs against a stub model, with no network but loopback.

The CLIs come from the npm registry (:func:`ensure_clis`). Every command runs inside one
loopback-only network namespace (``unshare -n``) that is held open by the stub model server
(``stub_model.py``); each command then enters it with ``nsenter --net``. Both CLIs try to reach
their vendors' hosts, so never run them any other way. A fresh namespace has its own, empty port
space: the stub listens on a fixed port (:data:`STUB_PORT`) and so can anything the caller starts
in the background (``LoopbackNamespace.start``), e.g. ``threadline serve``.

Typical use::

    clis = ensure_clis()  # InstallFailed: npm is missing or failed (npm's stderr says why)
    with LoopbackNamespace(tmp_path / "ns") as ns:
        env = client_env(clis, home=home, claude_config=cfg, codex_home=codex_home)
        first = ns.run("claude -p hello --output-format json", env=env, cwd=project)
        ...
        ns.stub_requests()  # every request body the stub saw
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import pytest

from tests.helpers.wait import wait_for

CLI_PACKAGES = ("@anthropic-ai/claude-code@latest", "@openai/codex@latest")
ENV_CACHE = "THREADLINE_REALCLIENTS_CACHE"
STUB_PORT = 18080
STUB_SCRIPT = Path(__file__).with_name("stub_model.py")
CLAUDE_API_KEY = "sk-ant-stub-0123456789abcdefghij"
CODEX_API_KEY = "sk-stub"

# Switches that bring the CLIs' own network attempts to zero in headless mode.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
}

# Codex events that match the ones Claude Code fires in ``-p`` mode.
SESSION_EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")


# --------------------------------------------------------------------------- install


def cache_dir() -> Path:
    configured = os.environ.get(ENV_CACHE)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "threadline-realclients"


def _installed(folder: Path) -> bool:
    bins = folder / "node_modules" / ".bin"
    return all(os.access(bins / name, os.X_OK) for name in ("claude", "codex"))


class InstallFailed(Exception):
    """npm is missing or could not install the CLIs; the message says why, with the tail of
    npm's error output."""


def _tail(output: bytes | str | None, lines: int = 15) -> str:
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    kept = (output or "").strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(npm wrote nothing to stderr)"


def ensure_clis(folder: Path | None = None, *, timeout: float = 600) -> Path:
    """The folder holding ``node_modules/.bin/claude`` and ``codex``, installing them if needed.

    Installs the latest releases with npm the first time and reuses them afterwards (delete the
    folder to upgrade). Raises :class:`InstallFailed` when npm is missing or the install fails.
    """
    folder = folder or cache_dir()
    if _installed(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise InstallFailed("npm is not on PATH")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes install once
        if _installed(folder):
            return folder
        manifest = folder / "package.json"
        if not manifest.exists():
            manifest.write_text('{"name": "threadline-realclients", "private": true}\n')
        # No --ignore-scripts / --omit=optional: the CLIs are native optional dependencies and
        # Claude Code's postinstall links its binary into place.
        command = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *CLI_PACKAGES]
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise InstallFailed(
                f"npm install exited {exc.returncode}:\n{_tail(exc.stderr)}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise InstallFailed(f"npm install ran over {timeout} s:\n{_tail(exc.stderr)}") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise InstallFailed(f"npm install could not run: {exc}") from exc
    if not _installed(folder):
        raise InstallFailed(
            f"npm install left no claude and codex in {folder}/node_modules/.bin:"
            f"\n{_tail(done.stderr)}"
        )
    return folder


def namespace_problem() -> str | None:
    """Why a loopback-only namespace cannot be made here, or None."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "needs unshare and nsenter (util-linux)"
    if shutil.which("ip") is None:
        return "needs ip (iproute2) to bring up loopback"
    if os.geteuid() != 0:
        return "needs root for a loopback-only network namespace (unshare -n)"
    return None


def _cannot_run(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the real-client tests cannot run: {reason}")
    pytest.skip(f"real-client tests skipped: {reason}")


def require_namespace() -> None:
    """Skip (fail when ``CI=true``) unless loopback-only namespaces can be made."""
    reason = namespace_problem()
    if reason is not None:
        _cannot_run(reason)


def require_clis() -> Path:
    """:func:`ensure_clis` for tests: skip without the CLIs, fail when ``CI=true``."""
    require_namespace()
    try:
        return ensure_clis()
    except InstallFailed as exc:
        _cannot_run(f"npm could not install {' '.join(CLI_PACKAGES)} into {cache_dir()}: {exc}")


def cli_versions(clis: Path) -> dict[str, str]:
    """The installed package versions, e.g. ``{"claude": "2.1.330", "codex": "0.169.0"}``."""
    versions = {}
    for name, package in (("claude", "@anthropic-ai/claude-code"), ("codex", "@openai/codex")):
        manifest = clis / "node_modules" / package / "package.json"
        versions[name] = json.loads(manifest.read_text())["version"]
    return versions


# --------------------------------------------------------------------------- environment


def client_env(
    clis: Path,
    *,
    home: Path,
    claude_config: Path | None = None,
    codex_home: Path | None = None,
    port: int = STUB_PORT,
    path_extra: Sequence[Path | str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A clean environment for both CLIs (nothing inherited but a few basics).

    ``PATH`` is ``path_extra`` (e.g. the venv's ``bin`` so hooks find ``threadline``), the CLIs,
    node, then the system folders.
    """
    node = shutil.which("node")
    path = [str(p) for p in path_extra]
    path.append(str(clis / "node_modules" / ".bin"))
    if node is not None:
        path.append(str(Path(node).parent))
    path += ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    env = {
        "PATH": os.pathsep.join(dict.fromkeys(path)),
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ANTHROPIC_API_KEY": CLAUDE_API_KEY,
        "STUB_API_KEY": CODEX_API_KEY,
        **QUIET_ENV,
    }
    if claude_config is not None:
        env["CLAUDE_CONFIG_DIR"] = str(claude_config)
    if codex_home is not None:
        env["CODEX_HOME"] = str(codex_home)
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- namespace


@dataclass
class StepResult:
    command: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> StepResult:
        """Self, or an AssertionError that shows the output."""
        if self.returncode != 0:
            raise AssertionError(
                f"exit {self.returncode}: {self.command}\n"
                f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
            )
        return self

    def json_lines(self) -> list[dict[str, Any]]:
        """stdout parsed as JSON lines (lines that are not JSON objects are left out)."""
        return _json_lines(self.stdout)


def _json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


@dataclass
class Background:
    command: str
    process: subprocess.Popen[Any]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _kill_group(process: subprocess.Popen[Any], grace: float = 3.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class LoopbackNamespace:
    """A network namespace with only ``lo``, held open by the stub model server.

    ``workdir`` receives the stub's request log (``stub-requests.jsonl``), its output and the
    output of background processes.
    """

    workdir: Path
    port: int = STUB_PORT
    python: str = sys.executable
    stub: subprocess.Popen[bytes] | None = None
    background: list[Background] = field(default_factory=list)

    @property
    def stub_log(self) -> Path:
        return self.workdir / "stub-requests.jsonl"

    @property
    def netns(self) -> str:
        assert self.stub is not None, "the namespace is not started"
        return f"/proc/{self.stub.pid}/ns/net"

    def __enter__(self) -> LoopbackNamespace:
        self.start_namespace()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def start_namespace(self, timeout: float = 10) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port_file = self.workdir / "stub.port"
        port_file.unlink(missing_ok=True)
        stub = [self.python, str(STUB_SCRIPT), "--port", str(self.port)]
        stub += ["--port-file", str(port_file), "--log", str(self.stub_log)]
        script = "ip link set lo up && exec " + shlex.join(stub)
        with (self.workdir / "stub.out").open("wb") as out:
            # unshare execs bash, which execs python: the stub's pid holds the namespace.
            self.stub = subprocess.Popen(
                ["unshare", "-n", "bash", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stub_process = self.stub

        def listening() -> bool:
            if stub_process.poll() is not None:
                raise RuntimeError("exited")
            return port_file.exists()

        try:
            wait_for(listening, timeout, what="the stub model's port file")
        except (RuntimeError, AssertionError) as exc:
            self.close()
            raise RuntimeError(f"stub model did not start ({exc}): {self.stub_output()}") from None
        self._assert_loopback_only()

    def _assert_loopback_only(self) -> None:
        links = self.run("ip -o link show").check().stdout
        names = {line.split(":")[1].strip() for line in links.splitlines() if ":" in line}
        if names != {"lo"}:
            self.close()
            raise RuntimeError(f"namespace is not loopback-only: {sorted(names)}")

    def stub_output(self) -> str:
        out = self.workdir / "stub.out"
        return out.read_text(errors="replace") if out.exists() else ""

    def _argv(self, command: str) -> list[str]:
        return ["nsenter", f"--net={self.netns}", "--", "bash", "-c", command]

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdin: str | None = None,
        timeout: float = 120,
        reap: bool = True,
    ) -> StepResult:
        """Run a bash command inside the namespace; stdin is /dev/null unless given.

        With ``reap``, processes the command left running in its process group are killed when it
        returns (a process that must outlive it should start its own session).
        """
        started = time.monotonic()
        process = subprocess.Popen(
            self._argv(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(
                stdin.encode() if stdin is not None else None, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            _kill_group(process, grace=1)
            out, err = process.communicate()
            err += f"\n[harness] timed out after {timeout} s".encode()
        if reap:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        return StepResult(
            command=command,
            returncode=process.returncode,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=time.monotonic() - started,
        )

    def run_steps(
        self,
        commands: Iterable[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        stop_on_failure: bool = True,
    ) -> list[StepResult]:
        results = []
        for command in commands:
            result = self.run(command, env=env, cwd=cwd, timeout=timeout)
            results.append(result)
            if stop_on_failure and result.returncode != 0:
                break
        return results

    def start(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: str | None = None,
        timeout: float = 30,
    ) -> Background:
        """Start a background bash command inside the namespace (stopped on close).

        ``ready``, if given, is a bash command run repeatedly inside the namespace until it
        succeeds, e.g. ``curl -sf http://127.0.0.1:8765/health`` or ``test -s port-file``.
        """
        log = self.workdir / f"background-{len(self.background) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                self._argv(command),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        job = Background(command, process, log)
        self.background.append(job)
        if ready is not None:
            check = ready

            def is_ready() -> bool:
                if self.run(check, env=env, cwd=cwd, timeout=timeout).returncode == 0:
                    return True
                if process.poll() is not None:
                    raise RuntimeError("exited")
                return False

            try:
                wait_for(is_ready, timeout, 0.1, what=f"`{ready}` to succeed")
            except (RuntimeError, AssertionError) as exc:
                raise RuntimeError(
                    f"background command not ready ({exc}): {command}\n{job.output()}"
                ) from None
        return job

    def popen(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[str]:
        """A bash command inside the namespace with text pipes on stdin/stdout (stderr to a log).

        The caller talks to it (e.g. ``codex app-server``); it is stopped on close at the latest.
        """
        log = self.workdir / f"background-{len(self.background) + 1}.log"
        with log.open("wb") as err:
            process = subprocess.Popen(
                self._argv(command),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.background.append(Background(command, process, log))
        return process

    def stub_requests(self) -> list[dict[str, Any]]:
        """Every request the stub received so far: method, path, body, prompts, reply, n."""
        if not self.stub_log.exists():
            return []
        return _json_lines(self.stub_log.read_text())

    def model_requests(self) -> list[dict[str, Any]]:
        """The stub's requests that asked for a model reply (they carry ``prompts``)."""
        return [entry for entry in self.stub_requests() if "prompts" in entry]

    def close(self) -> None:
        for job in reversed(self.background):
            _kill_group(job.process)
            for pipe in (job.process.stdin, job.process.stdout):
                if pipe is not None:
                    pipe.close()
        self.background.clear()
        if self.stub is not None:
            _kill_group(self.stub)


@dataclass
class ScriptRun:
    """What :func:`run_in_namespace` returns."""

    before: list[Background]
    steps: list[StepResult]
    requests: list[dict[str, Any]]

    @property
    def returncodes(self) -> list[int]:
        return [step.returncode for step in self.steps]


def run_in_namespace(
    steps: Sequence[str],
    *,
    workdir: Path,
    env: Mapping[str, str],
    cwd: Path,
    before: Sequence[str] = (),
    before_ready: Sequence[str | None] = (),
    timeout: float = 120,
    stop_on_failure: bool = True,
) -> ScriptRun:
    """Start the stub and the ``before`` background commands, run ``steps``, stop everything.

    Each step is a bash snippet; shell variables do not carry over between steps (write files in
    ``cwd`` instead). For steps that depend on earlier output, use :class:`LoopbackNamespace`.
    """
    with LoopbackNamespace(workdir) as ns:
        ready = list(before_ready) + [None] * (len(before) - len(before_ready))
        jobs = [
            ns.start(command, env=env, cwd=cwd, ready=check, timeout=timeout)
            for command, check in zip(before, ready, strict=True)
        ]
        results = ns.run_steps(
            steps, env=env, cwd=cwd, timeout=timeout, stop_on_failure=stop_on_failure
        )
        return ScriptRun(before=jobs, steps=results, requests=ns.stub_requests())


# --------------------------------------------------------------------------- Claude Code


def hooks_config(events: Iterable[str], command: str) -> dict[str, Any]:
    """The ``hooks`` value of Claude's settings.json and of Codex's hooks.json."""
    entry = [{"matcher": "", "hooks": [{"type": "command", "command": command}]}]
    return {event: entry for event in events}


def write_claude_config(
    config_dir: Path,
    *,
    hooks: Mapping[str, Any] | None = None,
    trusted_dirs: Iterable[Path] = (),
    api_key: str = CLAUDE_API_KEY,
    settings_extra: Mapping[str, Any] | None = None,
) -> None:
    """``settings.json`` (hooks) and ``.claude.json`` (onboarding done, folders trusted).

    The ``.claude.json`` flags are only needed by the interactive TUI; ``-p`` runs without them.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = dict(settings_extra or {})
    if hooks is not None:
        settings["hooks"] = dict(hooks)
    (config_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    state = {
        "hasCompletedOnboarding": True,
        "theme": "dark",
        "projects": {
            str(Path(path).resolve()): {"hasTrustDialogAccepted": True} for path in trusted_dirs
        },
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
    }
    (config_dir / ".claude.json").write_text(json.dumps(state, indent=2) + "\n")


def claude_project_name(cwd: Path) -> str:
    """The folder under ``projects/`` for a cwd (names over 200 characters get a hash too)."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(Path(cwd).resolve()))


def claude_transcript(config_dir: Path, cwd: Path, session_id: str) -> Path:
    """``<config>/projects/<enc(realpath(cwd))>/<session-id>.jsonl`` (may not exist yet)."""
    name = claude_project_name(cwd)
    path = config_dir / "projects" / name / f"{session_id}.jsonl"
    if len(name) > 200 and not path.exists():
        found = sorted((config_dir / "projects").glob(f"{name[:200]}-*/{session_id}.jsonl"))
        if found:
            return found[0]
    return path


def claude_transcripts(config_dir: Path) -> list[Path]:
    return sorted((config_dir / "projects").glob("*/*.jsonl"))


# --------------------------------------------------------------------------- Codex


def codex_config_toml(port: int = STUB_PORT, extra: str = "") -> str:
    return (
        f"""\
model = "stub-model"
model_provider = "stub"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.stub]
name = "stub"
base_url = "http://127.0.0.1:{port}/v1"
wire_api = "responses"
env_key = "STUB_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false

[analytics]
enabled = false
"""
        + extra
    )


def write_codex_config(
    codex_home: Path,
    *,
    port: int = STUB_PORT,
    hooks: Mapping[str, Any] | None = None,
    extra_toml: str = "",
) -> None:
    """``$CODEX_HOME/config.toml`` pointing at the stub, and ``hooks.json`` when hooks are given.

    Codex skips untrusted hooks silently: run it with ``--dangerously-bypass-hook-trust`` or
    record the trust (see README.md).
    """
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config_toml(port, extra_toml))
    if hooks is not None:
        (codex_home / "hooks.json").write_text(json.dumps({"hooks": dict(hooks)}, indent=2) + "\n")


def codex_rollouts(codex_home: Path) -> list[Path]:
    """Every ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``, oldest first."""
    return sorted((codex_home / "sessions").glob("*/*/*/rollout-*.jsonl"))


def codex_rollout(codex_home: Path, thread_id: str) -> Path | None:
    found = [path for path in codex_rollouts(codex_home) if path.stem.endswith(thread_id)]
    return found[0] if found else None


def codex_thread_id(result: StepResult) -> str:
    """The thread id from ``codex exec --json`` output."""
    for event in result.json_lines():
        if event.get("type") == "thread.started":
            return str(event["thread_id"])
    raise AssertionError(f"no thread.started event in: {result.stdout[-2000:]}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return _json_lines(path.read_text()) if path.exists() else []


def codex_app_server(
    ns: LoopbackNamespace,
    requests: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """Send JSON-RPC requests to ``codex app-server`` (after ``initialize``); their responses.

    E.g. ``[("hooks/list", {"cwds": [str(cwd)]})]``. Notifications are skipped.
    """
    process = ns.popen("codex app-server", env=env, cwd=cwd)
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    deadline = time.monotonic() + timeout

    def call(number: int, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": number, "method": method, "params": dict(params)}
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        while time.monotonic() < deadline:
            line = stdout.readline()
            if not line:
                break
            reply = json.loads(line)
            if reply.get("id") == number and ("result" in reply or "error" in reply):
                return dict(reply)
        raise AssertionError(f"codex app-server gave no answer to {method}")

    try:
        call(0, "initialize", {"clientInfo": {"name": "threadline-tests", "version": "0"}})
        stdin.write(json.dumps({"jsonrpc": "2.0", "method": "initialized"}) + "\n")
        stdin.flush()
        return [call(number, method, params) for number, (method, params) in enumerate(requests, 1)]
    finally:
        stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _kill_group(process)
        stdout.close()


# --------------------------------------------------------------------------- Codex hook trust

# Events whose matcher Codex keeps (for the others it is dropped: None in the hash).
CODEX_MATCHER_EVENTS = frozenset(
    {
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "PreCompact",
        "PostCompact",
        "SessionStart",
        "SessionEnd",
        "SubagentStart",
        "SubagentStop",
    }
)
# Events whose hook timeout defaults to 1 s and is clamped to at most 3 s.
CODEX_SHORT_TIMEOUT_EVENTS = frozenset({"SessionEnd", "Interrupt"})


def codex_event_label(event: str) -> str:
    """``SessionStart`` -> ``session_start`` (the form in trust keys and hashes)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()


def codex_hook_timeout(event: str, timeout: int | None) -> int:
    """The timeout Codex 0.169 applies (and hashes) for a command hook."""
    if event in CODEX_SHORT_TIMEOUT_EVENTS:
        return min(max(timeout if timeout is not None else 1, 1), 3)
    return max(timeout if timeout is not None else 600, 1)


def codex_hook_hash(
    event: str,
    command: str,
    *,
    matcher: str | None = None,
    timeout: int | None = None,
    is_async: bool = False,
    status_message: str | None = None,
) -> str:
    """The ``currentHash`` Codex computes for one command hook (``trusted_hash`` must equal it).

    sha256 over compact JSON with sorted keys of the normalized identity
    ``{"event_name", "matcher"?, "hooks": [{"type", "command", "timeout", "async",
    "statusMessage"?}]}``; absent values are left out.
    """
    hook: dict[str, Any] = {
        "type": "command",
        "command": command,
        "timeout": codex_hook_timeout(event, timeout),
        "async": is_async,
    }
    if status_message is not None:
        hook["statusMessage"] = status_message
    identity: dict[str, Any] = {"event_name": codex_event_label(event), "hooks": [hook]}
    if matcher is not None and event in CODEX_MATCHER_EVENTS:
        identity["matcher"] = matcher
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def codex_hook_trust_states(codex_home: Path) -> dict[str, str]:
    """``{trust key: hash}`` for every command hook in ``$CODEX_HOME/hooks.json``.

    The key is ``<absolute hooks.json path>:<event label>:<group index>:<hook index>``.
    """
    hooks_file = Path(os.path.abspath(codex_home / "hooks.json"))
    events = json.loads(hooks_file.read_text()).get("hooks", {})
    states = {}
    for event, groups in events.items():
        for group_index, group in enumerate(groups):
            for hook_index, hook in enumerate(group.get("hooks", [])):
                if hook.get("type") != "command":
                    continue
                key = f"{hooks_file}:{codex_event_label(event)}:{group_index}:{hook_index}"
                states[key] = codex_hook_hash(
                    event,
                    hook["command"],
                    matcher=group.get("matcher"),
                    timeout=hook.get("timeout"),
                    is_async=bool(hook.get("async", False)),
                    status_message=hook.get("statusMessage"),
                )
    return states


def trust_codex_hooks(codex_home: Path) -> dict[str, str]:
    """Record trust for every hook in hooks.json by appending to config.toml (no Codex needed).

    Assumes config.toml has no ``hooks.state`` entries yet (it appends tables).
    """
    states = codex_hook_trust_states(codex_home)
    lines = [""]
    for key, digest in states.items():
        lines += [f"[hooks.state.{json.dumps(key)}]", f"trusted_hash = {json.dumps(digest)}", ""]
    config = codex_home / "config.toml"
    with config.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))
    return states


# --------------------------------------------------------------------------- recording hook


RECORDING_HOOK = """\
import json, os, sys
data = json.loads(sys.stdin.read() or "{}")
data["_env"] = {k: v for k, v in os.environ.items() if k.startswith(("CLAUDE", "CODEX"))}
path = data.get("transcript_path") or ""
data["_transcript_lines"] = (
    sum(1 for _ in open(path, "rb")) if path and os.path.exists(path) else None
)
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps(data) + "\\n")
"""


def recording_hook(folder: Path, log: Path, python: str = sys.executable) -> str:
    """A hook command that appends its stdin JSON (plus ``_env``, ``_transcript_lines``) to log.

    ``_transcript_lines`` is the transcript's line count when the hook ran (None: no file yet).
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "record_hook.py"
    script.write_text(RECORDING_HOOK)
    return shlex.join([python, str(script), str(log)])
