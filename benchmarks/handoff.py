"""``threadline save`` and ``threadline resume`` as whole processes, and the bytes a resume
moves.

Machine A has a clone of a repository of 400 files and a Claude Code session of about 5 MB
whose working folder is that clone, and 200 changed files: 100 modified, 50 new and staged, 50
untracked (2 kB each), plus two unpushed commits. Machine B (another ``THREADLINE_HOME``, its
own agent folders, a clone at another path) resumes.

- ``save (first)``: reads the 5 MB transcript into the local store, delivers it, records the
  git state and uploads the blobs and the save — once;
- ``save``: the same again (the transcript is on the server, the blobs too: only HEAD checks);
- ``resume (fresh clone)``: a new clone on B, no local transcript and no cached blob: bundle,
  checkout, patches, untracked files, and the whole transcript downloaded;
- ``resume after 10 new lines``: A's session gets 10 lines and is saved again; B resumes it
  (stashing the work of the previous resume): only the new lines should cross the wire, and
  the blobs, which have not changed, come from B's cache of downloaded blobs.

B talks to the server through a counting TCP proxy, so the bytes on the wire (both ways,
headers included) are measured for the two resumes. Baselines in the same rounds: ``git
status`` in A's clone and ``threadline --version``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from harness import (
    THREADLINE,
    Context,
    Server,
    clean_env,
    cli,
    cli_login,
    note,
    now,
    ratio,
    summary_ms,
    table,
    text_of_size,
)

SESSION_BYTES = 5 * 1024 * 1024
CHANGED_FILES = 200
NEW_LINES = 10


class CountingProxy:
    """A TCP relay on loopback that counts the bytes it relays each way."""

    def __init__(self, upstream: str) -> None:
        host, port = re.match(r"http://([\d.]+):(\d+)", upstream).groups()  # type: ignore[union-attr]
        self.upstream = (host, int(port))
        self.up = 0
        self.down = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.up = self.down = 0

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.upstream) as server:
            back = threading.Thread(target=self._pump, args=(server, client, False))
            back.start()
            self._pump(client, server, True)
            back.join()

    def _pump(self, source: socket.socket, target: socket.socket, up: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            with self._lock:
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
            target.sendall(data)


class Machine:
    def __init__(self, ctx: Context, name: str) -> None:
        self.name = name
        self.folder = ctx.home(f"handoff-{name}")
        self.home = self.folder / "threadline"
        self.user = self.folder / "user"
        self.user.mkdir()
        self.env = clean_env(
            self.home,
            HOME=str(self.user),
            CLAUDE_CONFIG_DIR=str(self.user / ".claude"),
            CODEX_HOME=str(self.user / ".codex"),
            THREADLINE_DEVICE_NAME=name,
            GIT_CONFIG_GLOBAL=str(self.folder / "gitconfig"),
            GIT_CONFIG_NOSYSTEM="1",
        )
        (self.folder / "gitconfig").write_text(
            "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
        )

    def git(self, repo: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def threadline(self, repo: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        start = now()
        done = subprocess.run(
            [THREADLINE, *args], cwd=repo, env=self.env, capture_output=True, text=True, timeout=600
        )
        elapsed = now() - start
        if done.returncode:
            raise RuntimeError(f"threadline {' '.join(args)}: {done.stdout}{done.stderr}")
        return elapsed, done


def _transcript(path: Path, cwd: Path, session: str, size: int, rng: random.Random) -> int:
    """A Claude Code transcript of about ``size`` bytes: prompts and replies working in
    ``cwd``. Returns the number of lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    parent = None
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < size:
            line = _line(cwd, session, parent, lines, rng)
            parent = json.loads(line)["uuid"]
            fh.write(line + "\n")
            written += len(line) + 1
            lines += 1
    return lines


def _line(cwd: Path, session: str, parent: str | None, n: int, rng: random.Random) -> str:
    role = "user" if n % 2 == 0 else "assistant"
    text = text_of_size(2500, rng)
    content: Any = text if role == "user" else [{"type": "text", "text": text}]
    record = {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": str(cwd),
        "sessionId": session,
        "version": "2.1.38",
        "gitBranch": "main",
        "type": role,
        "message": {"role": role, "content": content},
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": f"2026-11-21T10:{n // 3600 % 60:02d}:{n // 60 % 60:02d}.{n % 1000:03d}Z",
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _encoded(folder: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", os.path.realpath(folder))


def _setup_repository(a: Machine, remote: Path, rng: random.Random) -> Path:
    a.git(remote.parent, "init", "-q", "--bare", str(remote))
    repo = a.folder / "src" / "project"
    a.git(a.folder, "clone", "-q", str(remote), str(repo))
    for i in range(400):
        (repo / f"mod{i // 50}").mkdir(exist_ok=True)
        (repo / f"mod{i // 50}" / f"file{i}.py").write_text(text_of_size(2000, rng) + "\n")
    a.git(repo, "add", "-A")
    a.git(repo, "commit", "-q", "-m", "base")
    a.git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    for n in range(2):  # two commits the remote does not have: they travel in a bundle
        (repo / f"unpushed{n}.txt").write_text(text_of_size(1000, rng))
        a.git(repo, "add", "-A")
        a.git(repo, "commit", "-q", "-m", f"local {n}")
    for i in range(100):
        with (repo / f"mod{i // 50}" / f"file{i}.py").open("a") as fh:
            fh.write(text_of_size(200, rng) + "\n")
    for i in range(50):
        (repo / "staged").mkdir(exist_ok=True)
        (repo / "staged" / f"new{i}.py").write_text(text_of_size(2000, rng))
    a.git(repo, "add", "staged")
    for i in range(50):
        (repo / "scratch").mkdir(exist_ok=True)
        (repo / "scratch" / f"notes{i}.md").write_text(text_of_size(2000, rng))
    return repo


def run(ctx: Context) -> dict[str, Any]:
    runs = 3 if ctx.quick else 5
    rng = random.Random(11)
    server = Server(ctx.home("handoff-server"), f"sqlite:///{ctx.workdir / 'handoff.db'}")
    a, b = Machine(ctx, "desk"), Machine(ctx, "laptop")
    remote = a.folder / "remote.git"
    repo = _setup_repository(a, remote, rng)
    session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    transcript = a.user / ".claude" / "projects" / _encoded(repo) / f"{session}.jsonl"
    lines = _transcript(transcript, repo, session, SESSION_BYTES, rng)
    samples: dict[str, list[float]] = {
        "git status (baseline)": [],
        "threadline --version (baseline)": [],
        "threadline save (first: reads and delivers the session)": [],
        "threadline save": [],
        "threadline resume (fresh clone, whole transcript)": [],
        "threadline resume after 10 new lines": [],
    }
    wire: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    with server:
        proxy = CountingProxy(server.url)
        cli_login(a.home, server)
        b.env["THREADLINE_SERVER_URL"] = proxy.url
        _login_through(b, proxy.url)
        elapsed, done = a.threadline(repo, "save", "--json")
        samples["threadline save (first: reads and delivers the session)"].append(elapsed)
        first = json.loads(done.stdout)
        if first["changed_files"] != CHANGED_FILES or not first["uploaded"]:
            problems.append(f"first save: {first}")
        for _ in range(runs):
            samples["git status (baseline)"].append(_timed(["git", "status"], repo, a.env))
            samples["threadline --version (baseline)"].append(
                _timed([THREADLINE, "--version"], repo, a.env)
            )
            elapsed, done = a.threadline(repo, "save", "--json")
            samples["threadline save"].append(elapsed)
        save_id = json.loads(done.stdout)["save_id"]
        clone = b.folder
        for i in range(runs):
            clone = b.folder / f"run{i}" / "project"
            b.git(b.folder, "clone", "-q", str(remote), str(clone))
            shutil.rmtree(b.user / ".claude", ignore_errors=True)
            shutil.rmtree(b.home / "handoff-blobs", ignore_errors=True)  # as a new machine
            proxy.reset()
            elapsed, done = b.threadline(clone, "resume", save_id, "--json")
            samples["threadline resume (fresh clone, whole transcript)"].append(elapsed)
            wire["resume (fresh clone)"] = {"up": proxy.up, "down": proxy.down}
        with transcript.open("a", encoding="utf-8") as fh:
            parent = None
            for n in range(NEW_LINES):
                line = _line(repo, session, parent, lines + n, rng)
                parent = json.loads(line)["uuid"]
                fh.write(line + "\n")
        _, done = a.threadline(repo, "save", "--json")
        newer = json.loads(done.stdout)["save_id"]
        proxy.reset()
        elapsed, done = b.threadline(clone, "resume", newer, "--stash", "--json")
        samples["threadline resume after 10 new lines"].append(elapsed)
        wire["resume after 10 new lines"] = {"up": proxy.up, "down": proxy.down}
        resumed = json.loads(done.stdout)
        if resumed.get("lines_downloaded") not in (None, NEW_LINES):
            problems.append(f"second resume downloaded {resumed.get('lines_downloaded')} lines")
        proxy.close()
    return _report(samples, wire, problems, runs, lines)


def _login_through(machine: Machine, url: str) -> None:
    from harness import ADMIN_PASSWORD, ADMIN_USER

    done = cli(
        machine.home,
        "login",
        "--server",
        url,
        "--user",
        ADMIN_USER,
        "--password-stdin",
        input=ADMIN_PASSWORD + "\n",
        env=machine.env,
    )
    if done.returncode:
        raise RuntimeError(f"login: {done.stderr}")


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = now()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
    return now() - start


def _report(
    samples: dict[str, list[float]],
    wire: dict[str, dict[str, int]],
    problems: list[str],
    runs: int,
    lines: int,
) -> dict[str, Any]:
    base = summary_ms(samples["threadline --version (baseline)"])["median_ms"]
    rows = []
    for name, values in samples.items():
        stats = summary_ms(values)
        rows.append({"variant": name, **stats, "ratio_to_version": ratio(stats["median_ms"], base)})
    table(
        f"handoff — {SESSION_BYTES // 2**20} MB session ({lines} lines), {CHANGED_FILES} "
        f"changed files ({runs} runs each)",
        ["variant", "n", "median ms", "min ms", "max ms", "× --version"],
        [
            [r["variant"], r["n"], r["median_ms"], r["min_ms"], r["max_ms"], r["ratio_to_version"]]
            for r in rows
        ],
    )
    table(
        "handoff — bytes on the wire between B and the server (through a counting proxy)",
        ["resume", "sent", "received"],
        [[name, w["up"], w["down"]] for name, w in wire.items()],
    )
    first = wire.get("resume (fresh clone)", {}).get("down", 0)
    second = wire.get("resume after 10 new lines", {}).get("down", 0)
    note(
        f"a second resume after {NEW_LINES} new lines receives {ratio(second, first)} of the first"
    )
    return {"runs": runs, "rows": rows, "wire": wire, "lines": lines, "problems": problems}
