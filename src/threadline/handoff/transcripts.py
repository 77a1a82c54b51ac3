"""The transcript half of a resume: the saved session's file, downloaded from the server,
its paths moved to this machine's clone, put where the real agent CLI continues it.

:func:`plan_transcript` reads only: it picks the server's copy of the file that the save
describes, works out where Claude Code or Codex keeps that session for this clone's folder
(:mod:`~threadline.handoff.places`), and compares what is there already. :func:`write_transcript`
then downloads what is missing and writes it; :func:`print_conversation` shows the saved
conversation without writing anything.

Guarantees:

- Every working-folder path in the file is moved from the saving machine's repository root to
  this clone's (:mod:`~threadline.handoff.rewrite`); every other byte is the captured file's.
- Only what this machine lacks crosses the wire: when the file here already holds the first N
  lines of the save (an earlier resume, or the machine the session came from), the download
  starts at line N + 1. The check hashes this machine's N lines, paths moved back, and
  compares with the server's digest of its first N lines: no line crosses the wire for it.
- A local copy that would lose something — more lines than the save, or lines that differ from
  it — is never overwritten unless forced, and then it is kept beside the new file
  (``<name>.replaced-<time>``), a name neither agent reads.
- Writing is atomic per file (a temporary file in the same folder, renamed over the old one),
  and a failure part-way undoes every file already placed, restoring what was there.
- The save's line count is what is written, even when the session went on on the saving
  machine after the save (``to_line``).
- Claude Code's subagent files (child threads) are placed beside the session as they were laid
  out; a Codex rollout is then read by Codex itself (:mod:`~threadline.handoff.codex_index`) so
  that its own index lists it for ``codex resume --last``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from threadline.client.api import Api
from threadline.errors import ClientError, Conflict, InvalidInput
from threadline.handoff import codex_index, places
from threadline.handoff.conversation import print_entries
from threadline.handoff.rewrite import Rewriter, replace_root, rewrite_line

__all__ = [
    "FilePlan",
    "TranscriptNotUploaded",
    "TranscriptPlan",
    "TranscriptRefused",
    "TranscriptResult",
    "TranscriptShort",
    "plan_transcript",
    "print_conversation",
    "resume_command",
    "rewrite_line",
    "write_transcript",
]

AGENTS = ("claude-code", "codex")
#: Lines read from the start of a candidate copy to see which machine's paths it holds.
PROBE_LINES = 8


class TranscriptRefused(Conflict):
    """Writing the transcript would lose a newer or different local copy; nothing was
    written."""

    code = "transcript_refused"
    hint = (
        "`--force` replaces it and keeps the local copy beside it as `<name>.replaced-<time>`; "
        "`--read-only` shows the saved conversation without writing anything."
    )


class TranscriptNotUploaded(Conflict):
    """The server does not hold all the lines the save describes (yet)."""

    code = "transcript_not_uploaded"
    hint = (
        "Run `threadline sync` on the machine that saved it (the save waits for its "
        "transcript to be uploaded), then resume again."
    )


class TranscriptShort(ClientError):
    """The download ended before the lines it was asked for; nothing was written."""

    code = "transcript_short"
    hint = "Try again; if it keeps happening, `threadline sync` on the saving machine."


@dataclass(frozen=True)
class FilePlan:
    """One file to place: the session's transcript or one of its subagents'."""

    thread_id: str
    stream_id: str
    path: Path
    have_lines: int  # lines of the local file that match the save's (kept as they are)
    total_lines: int  # lines the file gets
    local_lines: int  # lines in the local file now (0: none, or no file)
    refuse: str | None


@dataclass(frozen=True)
class TranscriptPlan:
    agent: str
    session_id: str
    thread_id: str
    path: Path  # where the main file goes on this machine
    subagents: list[tuple[str, Path]]  # (thread_id, path) of subagent files (Claude)
    have_lines: int  # complete lines this machine already has that match
    total_lines: int  # lines the save needs (save["line_count"])
    refuse: str | None  # why writing would lose something (a newer local copy)
    stream_id: str | None  # which server stream is downloaded
    cwd: Path | None = None  # the session's folder on this machine
    files: tuple[FilePlan, ...] = ()  # the main file first, then the subagents
    probe_bytes: int = 0  # bytes read from the server to make the plan


@dataclass(frozen=True)
class TranscriptResult:
    path: Path
    lines_downloaded: int
    bytes_downloaded: int  # transcript bytes received (before paths were moved)
    wire_bytes: int = 0  # the same on the wire (compressed)
    written: list[Path] = field(default_factory=list)  # files replaced or created
    backups: list[Path] = field(default_factory=list)  # local copies kept after --force
    notes: list[str] = field(default_factory=list)  # what the user should know (not errors)


# --- planning ------------------------------------------------------------------------------


def plan_transcript(
    api: Api, save: Mapping[str, Any], new_root: Path, env: Mapping[str, str] | None = None
) -> TranscriptPlan:
    """Where the save's transcript goes on this machine, how much of it is here already, and
    whether writing it would lose anything. Reads the server and the disk; writes nothing."""
    env = os.environ if env is None else env
    agent, session_id, thread_id = _identity(save)
    total = int(save["line_count"])
    rewriter, cwd = _roots(save, new_root)
    detail = api.thread(thread_id)
    probe = _Probe(api, thread_id)
    stream = _pick_stream(probe, detail["streams"], total, rewriter.old)
    if agent == "claude-code":
        project = places.claude_project_dir(places.claude_config_dir(env), str(cwd))
        path = project / f"{session_id}.jsonl"
    else:
        meta = detail.get("meta") or {}
        started = meta.get("started") if isinstance(meta, dict) else None
        name = places.codex_rollout_name(session_id, stream.get("source"), started)
        path = places.codex_rollout_path(places.codex_home(env), session_id, name)
    main = _file_plan(probe, rewriter, thread_id, str(stream["stream_id"]), path, total)
    files = [main]
    if agent == "claude-code":
        files += _subagent_plans(api, probe, rewriter, thread_id, stream, project, session_id)
    refusals = [f"{f.path}: {f.refuse}" for f in files if f.refuse]
    return TranscriptPlan(
        agent=agent,
        session_id=session_id,
        thread_id=thread_id,
        path=path,
        subagents=[(f.thread_id, f.path) for f in files[1:]],
        have_lines=main.have_lines,
        total_lines=total,
        refuse="; ".join(refusals) if refusals else None,
        stream_id=main.stream_id,
        cwd=cwd,
        files=tuple(files),
        probe_bytes=probe.bytes,
    )


def _identity(save: Mapping[str, Any]) -> tuple[str, str, str]:
    agent, session_id, thread_id = save.get("agent"), save.get("session_id"), save.get("thread_id")
    if agent not in AGENTS:
        raise InvalidInput(f"a save of agent {agent!r}: only {' and '.join(AGENTS)} are resumed")
    if not isinstance(session_id, str) or not places.safe_session_id(session_id):
        raise InvalidInput(f"the save's session id {session_id!r} cannot name a file")
    lines = save.get("line_count")
    if not isinstance(lines, int) or isinstance(lines, bool) or lines < 0:
        raise InvalidInput(f"the save's line count {lines!r} is not a number of lines")
    if not isinstance(thread_id, str) or not thread_id:
        raise InvalidInput(
            f"the save of session {session_id} names no thread on the server",
            hint="Its transcript was not uploaded when it was saved: save it again.",
        )
    return agent, session_id, thread_id


def _roots(save: Mapping[str, Any], new_root: Path) -> tuple[Rewriter, Path]:
    """The rewriter from the saving machine's root to this clone's real root, and the
    session's folder here: the same place relative to the root (the root itself when the
    saved folder is not inside it)."""
    here = os.path.realpath(new_root)
    rewriter = Rewriter(str(save["repo_root"]), here)
    saved_cwd = str(save.get("cwd") or rewriter.old)
    moved = os.path.normpath(replace_root(saved_cwd, rewriter.old, rewriter.new))
    inside = moved == rewriter.new or moved.startswith(rewriter.new + "/")
    return rewriter, Path(moved if inside else rewriter.new)


class _Probe:
    """Small reads of a thread's lines, counting the bytes they cost."""

    def __init__(self, api: Api, thread_id: str) -> None:
        self.api = api
        self.thread_id = thread_id
        self.bytes = 0

    def lines(self, stream_id: str, first: int, last: int) -> list[bytes]:
        """Lines ``first … last`` (1-based) of one of the thread's streams."""
        sink = _Collect()
        part = self.api.download_transcript(
            self.thread_id, sink, stream=stream_id, from_line=first - 1, to_line=last
        )
        self.bytes += part.wire_bytes
        return sink.data.splitlines(keepends=True)

    def digest(self, thread_id: str, stream_id: str, last: int) -> str:
        """The SHA-256 of lines ``1 … last`` of a stream."""
        found = self.api.transcript_digest(thread_id, stream=stream_id, to_line=last)
        if int(found.get("lines", -1)) != last:
            raise TranscriptNotUploaded(
                f"the server's copy of the transcript has {found.get('lines_total')} lines; "
                f"{last} were expected"
            )
        return str(found["sha256"])


class _Collect:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def _pick_stream(
    probe: _Probe, streams: list[dict[str, Any]], total: int, old_root: str
) -> dict[str, Any]:
    """The copy of the file the save describes: one that holds its ``total`` lines; among
    several (one per machine), the one whose first lines carry the saving machine's root —
    trying the newest generation and the shortest copy first."""
    candidates = [s for s in streams if int(s.get("tail", 0)) >= total]
    if not candidates:
        most = max((int(s.get("tail", 0)) for s in streams), default=0)
        raise TranscriptNotUploaded(
            f"the server holds {most} lines of this session's transcript; the save needs {total}"
        )
    candidates.sort(key=lambda s: (-int(s.get("generation", 1)), int(s.get("tail", 0))))
    if len(candidates) == 1 or total == 0:
        return candidates[0]
    for stream in candidates:
        lines = probe.lines(str(stream["stream_id"]), 1, min(total, PROBE_LINES))
        folder = next(filter(None, map(_cwd_of, lines)), None)
        if folder is not None and (folder == old_root or folder.startswith(old_root + "/")):
            return stream
    return candidates[0]


def _cwd_of(line: bytes) -> str | None:
    """The working folder a line records: Claude's ``cwd``, Codex's ``payload.cwd``."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    payload = record.get("payload")
    for holder in (record, payload if isinstance(payload, dict) else {}):
        cwd = holder.get("cwd")
        if isinstance(cwd, str) and cwd:
            return cwd
    return None


def _subagent_plans(
    api: Api,
    probe: _Probe,
    rewriter: Rewriter,
    thread_id: str,
    main_stream: Mapping[str, Any],
    project: Path,
    session_id: str,
) -> list[FilePlan]:
    """The session's subagent files (child threads), each from the same machine's copy as
    the main file when there is one, whole."""
    plans = []
    for child in api.all_threads(parent_id=thread_id):
        detail = api.thread(str(child["id"]))
        streams = [s for s in detail.get("streams", []) if int(s.get("tail", 0)) > 0]
        if not streams:
            continue
        same = [s for s in streams if s.get("device_id") == main_stream.get("device_id")]
        stream = max(same or streams, key=lambda s: (int(s["generation"]), int(s["tail"])))
        meta = detail.get("meta") if isinstance(detail.get("meta"), dict) else {}
        path = places.claude_subagent_path(
            project, session_id, meta.get("agent_id"), stream.get("source")
        )
        if path is None:
            continue
        plans.append(
            _file_plan(
                probe,
                rewriter,
                str(child["id"]),
                str(stream["stream_id"]),
                path,
                int(stream["tail"]),
            )
        )
    return plans


def _file_plan(
    probe: _Probe, rewriter: Rewriter, thread_id: str, stream_id: str, path: Path, total: int
) -> FilePlan:
    """How much of the file is here: the local lines, their paths moved back to the saving
    machine's, must hash like the server's first lines (one digest, no line on the wire)."""
    ends = _line_ends(path)
    local = len(ends)

    def plan(have: int, refuse: str | None) -> FilePlan:
        return FilePlan(thread_id, stream_id, path, have, total, local, refuse)

    if local == 0:
        return plan(0, None)
    check = min(local, total)
    if check == 0:
        return plan(0, f"holds {local} lines; the save has none")
    theirs = probe.digest(thread_id, stream_id, check)
    back = Rewriter(rewriter.new, rewriter.old)
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for _, line in zip(range(check), handle, strict=False):
            hasher.update(back.line(line))
    if hasher.hexdigest() != theirs:
        return plan(0, f"its first {check} lines differ from the save's: another conversation")
    if local > total:
        return plan(
            check,
            f"holds {local} lines, {local - total} more than the save: the session went on here",
        )
    return plan(check, None)


def _line_ends(path: Path) -> list[int]:
    """Byte offsets where each line of the file ends (a last line without a newline
    counts); empty when there is no file."""
    try:
        with path.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    ends = []
    at = data.find(b"\n")
    while at >= 0:
        ends.append(at + 1)
        at = data.find(b"\n", at + 1)
    if data and not data.endswith(b"\n"):
        ends.append(len(data))
    return ends


# --- writing -------------------------------------------------------------------------------


def write_transcript(
    api: Api,
    plan: TranscriptPlan,
    save: Mapping[str, Any],
    new_root: Path,
    *,
    force: bool = False,
    env: Mapping[str, str] | None = None,
) -> TranscriptResult:
    """Download what the plan says is missing and put every file in place, paths moved.

    Refuses (:class:`TranscriptRefused`, nothing written) when the plan found a local copy it
    would lose, unless ``force``: then that copy is kept beside the new file. All files are
    downloaded first; if anything fails, the files already placed get their old content back
    and folders made for them are removed. A Codex rollout is then indexed by Codex itself
    (:mod:`~threadline.handoff.codex_index`) so that ``codex resume --last`` lists it; when
    that cannot be done, ``notes`` says so.
    """
    if plan.refuse and not force:
        raise TranscriptRefused(f"a local copy of the transcript would be lost: {plan.refuse}")
    rewriter, _ = _roots(save, new_root)
    files = plan.files or (
        FilePlan(
            plan.thread_id,
            plan.stream_id or "",
            plan.path,
            plan.have_lines,
            plan.total_lines,
            plan.have_lines,
            plan.refuse,
        ),
    )
    staged: list[_Staged] = []
    made: list[Path] = []
    lines = size = wire = 0
    try:
        for file in files:
            made += _make_parents(file.path.parent)
            item = _stage(api, rewriter, file)
            staged.append(item)
            lines, size, wire = lines + item.lines, size + item.bytes, wire + item.wire
        written, backups = _commit(staged)
    except BaseException:
        for item in reversed(staged):
            item.undo()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    notes = []
    if plan.agent == "codex":
        environment = os.environ if env is None else env
        reason = codex_index.index_rollout(plan.session_id, environment, plan.cwd or new_root)
        if reason is not None:
            notes.append(
                f"Codex has not indexed the session ({reason}): `codex resume {plan.session_id}` "
                "finds it, `codex resume --last` may not until then."
            )
    return TranscriptResult(plan.path, lines, size, wire, written, backups, notes)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; the ones created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)
    return list(reversed(missing))


class _Staged:
    """One file downloaded next to its place, then put there (or undone)."""

    def __init__(self, plan: FilePlan) -> None:
        token = secrets.token_hex(4)
        self.plan = plan
        self.path = plan.path
        self.temp = plan.path.with_name(f".{plan.path.name}.{token}.tmp")
        self.kept = plan.path.with_name(f".{plan.path.name}.{token}.orig")
        self.lines = self.bytes = self.wire = 0
        self.placed = False
        self.had_file = False
        self.unchanged = False

    def place(self) -> Path | None:
        """Put the new file in place, keeping the old one aside; the backup to keep when the
        old one was refused (``--force``)."""
        if self.unchanged:
            os.utime(self.path)  # the latest session for --continue / --last
            return None
        if self.path.exists():
            self.had_file = True
            try:
                os.link(self.path, self.kept)
            except OSError:
                _copy(self.path, self.kept)
        os.replace(self.temp, self.path)
        self.placed = True
        if self.had_file and self.plan.refuse:
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            backup = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
            os.replace(self.kept, backup)
            return backup
        return None

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.kept.unlink()

    def undo(self) -> None:
        with contextlib.suppress(OSError):
            self.temp.unlink()
        if not self.placed:
            return
        if self.had_file and self.kept.exists():
            os.replace(self.kept, self.path)
        elif not self.had_file:
            with contextlib.suppress(OSError):
                self.path.unlink()


def _copy(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("xb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def _stage(api: Api, rewriter: Rewriter, plan: FilePlan) -> _Staged:
    """The file's new content in a temporary file beside it: the local lines that match,
    then the rest from the server, rewritten."""
    item = _Staged(plan)
    keep = plan.have_lines if plan.refuse is None else 0
    if plan.refuse is None and keep == plan.total_lines == plan.local_lines:
        item.unchanged = True
        return item
    mode = _mode_of(plan.path)
    fd = os.open(item.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            if keep:
                _copy_lines(plan.path, keep, out)
            sink = _RewritingSink(out, rewriter)
            part = api.download_transcript(
                plan.thread_id,
                sink,
                stream=plan.stream_id,
                from_line=keep,
                to_line=plan.total_lines,
            )
            sink.close()
            expected = plan.total_lines - keep
            if sink.lines != expected:
                raise TranscriptShort(
                    f"the server sent {sink.lines} lines of {plan.path.name} after line {keep}; "
                    f"{expected} were expected"
                )
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            item.temp.unlink()
        raise
    item.lines, item.bytes, item.wire = sink.lines, sink.bytes, part.wire_bytes
    return item


def _mode_of(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o600


def _copy_lines(path: Path, count: int, out: BinaryIO) -> None:
    with path.open("rb") as src:
        for n, line in enumerate(src, start=1):
            out.write(line)
            if n == count:
                return


def _commit(staged: list[_Staged]) -> tuple[list[Path], list[Path]]:
    written, backups = [], []
    for item in staged:
        backup = item.place()
        if backup is not None:
            backups.append(backup)
        if not item.unchanged:
            written.append(item.path)
    for item in staged:
        item.finish()
    return written, backups


class _RewritingSink:
    """Takes the downloaded bytes, writes them out line by line with paths moved, and
    counts the lines and bytes received."""

    def __init__(self, out: BinaryIO, rewriter: Rewriter) -> None:
        self.out = out
        self.rewriter = rewriter
        self.pending = b""
        self.lines = 0
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        self.pending += data
        if b"\n" in data:
            *complete, self.pending = self.pending.split(b"\n")
            for line in complete:
                self.out.write(self.rewriter.line(line + b"\n"))
            self.lines += len(complete)
        return len(data)

    def close(self) -> None:
        """A last line without a newline (captured while being written) is written too."""
        if self.pending:
            self.out.write(self.rewriter.line(self.pending))
            self.lines += 1
            self.pending = b""


# --- the rest of the contract --------------------------------------------------------------


def resume_command(agent: str, session_id: str) -> str:
    """The command that continues the session, to run in the session's folder."""
    if agent == "claude-code":
        return f"claude --resume {shlex.quote(session_id)}"
    if agent == "codex":
        return f"codex resume {shlex.quote(session_id)}"
    raise InvalidInput(f"no resume command for agent {agent!r}")


def print_conversation(api: Api, save: Mapping[str, Any], out: TextIO) -> None:
    """The saved conversation as text (prompts, replies, tool calls in a line each), read
    from the server: nothing is written to disk."""
    agent, session_id, thread_id = _identity(save)
    total = int(save["line_count"])
    detail = api.thread(thread_id)
    stream = _pick_stream(_Probe(api, thread_id), detail["streams"], total, str(save["repo_root"]))
    wanted = str(stream["stream_id"])
    entries = [
        e
        for e in _entries(api, thread_id)
        if str(e.get("stream_id")) == wanted and int(e.get("seq", 0)) <= total
    ]
    entries.sort(key=lambda e: int(e["seq"]))
    title = detail.get("title") or detail.get("name") or session_id
    out.write(
        f"{title}\n{agent} session {session_id} · {total} lines · saved "
        f"{save.get('created', '')} on {save['device'] or '?'}\n"
        f"in {save.get('cwd') or save.get('repo_root')}\n\n"
    )
    print_entries(entries, out)


def _entries(api: Api, thread_id: str) -> Iterator[dict[str, Any]]:
    yield from api.all_entries(thread_id)
