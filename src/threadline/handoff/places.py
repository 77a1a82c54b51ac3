"""Where Claude Code and Codex keep a session's transcript on this machine — the exact place
each agent itself would use, so that ``claude --resume`` / ``--continue`` and ``codex resume``
/ ``--last`` find a transcript put there.

Claude Code: ``$CLAUDE_CONFIG_DIR`` (default ``~/.claude``) ``/projects/<encoded cwd>/
<session>.jsonl``, subagents in ``<session>/subagents/agent-<id>.jsonl`` (2.1.x) or flat
``agent-<id>.jsonl`` beside it (2.0.x). The encoded cwd is the real path (symlinks resolved,
Unicode NFC) with every UTF-16 code unit outside ``[A-Za-z0-9]`` turned into ``-``; past 200
characters it is cut to 200 and followed by ``-`` and a hash, which differs between the CLI
(Bun's hash) and the SDK (djb2). An existing folder with the same 200-character prefix is used
as it is (Claude matches on the prefix too); a new one gets the djb2 suffix.

Codex: ``$CODEX_HOME`` (default ``~/.codex``) ``/sessions/YYYY/MM/DD/rollout-<local time>-
<session id>.jsonl``. Codex finds a session by the id at the end of the file name, so the
saving machine's file name is kept, and a file of the same session already anywhere under
``sessions`` is used in its place.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

#: Claude's encoded project folder names are cut here (then a hash follows).
MAX_CLAUDE_FOLDER = 200
_ROLLOUT = re.compile(
    r"^rollout-(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})T\d{2}-\d{2}-\d{2}-(?P<id>[0-9A-Za-z-]{36})"
    r"\.jsonl$"
)
_AGENT_FILE = re.compile(r"^agent-[A-Za-z0-9_-]{1,128}\.jsonl$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def claude_config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured).expanduser()
    return _home(env) / ".claude"


def codex_home(env: Mapping[str, str]) -> Path:
    configured = env.get("CODEX_HOME")
    if configured:
        return Path(configured).expanduser()
    return _home(env) / ".codex"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def claude_folder_name(cwd: str) -> str:
    """Claude's folder name under ``projects/`` for a (real, absolute) cwd."""
    name = unicodedata.normalize("NFC", cwd)
    encoded = "".join(
        ch if ch.isascii() and ch.isalnum() else "--" if ord(ch) > 0xFFFF else "-" for ch in name
    )
    if len(encoded) <= MAX_CLAUDE_FOLDER:
        return encoded
    return f"{encoded[:MAX_CLAUDE_FOLDER]}-{_base36(abs(_djb2(name)))}"


def claude_project_dir(config: Path, cwd: str) -> Path:
    """``<config>/projects/<encoded real cwd>``, an existing folder of the same long prefix
    if there is one."""
    name = claude_folder_name(os.path.realpath(cwd))
    projects = config / "projects"
    if len(name) > MAX_CLAUDE_FOLDER and not (projects / name).is_dir():
        prefix = name[:MAX_CLAUDE_FOLDER] + "-"
        try:
            found = sorted(p for p in projects.iterdir() if p.name.startswith(prefix))
        except OSError:
            found = []
        if found:
            return found[0]
    return projects / name


def claude_subagent_path(
    project_dir: Path, session_id: str, agent_id: str | None, source: str | None
) -> Path | None:
    """Where a subagent file goes: as its source was laid out (nested ``<session>/subagents``
    or flat), keeping its file name; ``None`` when neither names a safe file."""
    name = Path(source).name if source else ""
    if _AGENT_FILE.match(name):
        if Path(str(source)).parent.name != "subagents":  # 2.0.x: beside the session
            return project_dir / name
    elif agent_id and _SAFE_ID.match(agent_id):
        name = f"agent-{agent_id}.jsonl"
    else:
        return None
    return project_dir / session_id / "subagents" / name


def codex_rollout_name(session_id: str, source: str | None, started: str | None) -> str:
    """``rollout-<local time>-<id>.jsonl``: the saving machine's name when its source names
    this session, else made from the session's start (this machine's local time)."""
    name = Path(source).name if source else ""
    found = _ROLLOUT.match(name)
    if found and found.group("id") == session_id:
        return name
    when = _local_time(started)
    return f"rollout-{when:%Y-%m-%dT%H-%M-%S}-{session_id}.jsonl"


def codex_rollout_path(home: Path, session_id: str, name: str) -> Path:
    """An existing rollout of this session under ``sessions/`` (Codex would find it by id,
    two would be ambiguous), else ``sessions/YYYY/MM/DD/<name>`` from the name's date."""
    existing = find_codex_rollout(home, session_id)
    if existing is not None:
        return existing
    found = _ROLLOUT.match(name)
    assert found is not None, name
    return home / "sessions" / found.group("y") / found.group("m") / found.group("d") / name


def find_codex_rollout(home: Path, session_id: str) -> Path | None:
    sessions = home / "sessions"
    if not sessions.is_dir():
        return None
    found = sorted(sessions.rglob(f"rollout-*-{session_id}.jsonl"))
    return found[0] if found else None


def safe_session_id(session_id: str) -> bool:
    """A session id that can name a file (no separators, no dots first)."""
    return bool(_SAFE_ID.match(session_id))


def _local_time(started: str | None) -> datetime:
    if started:
        try:
            return datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone()
        except ValueError:
            pass
    return datetime.now().astimezone()


def _djb2(text: str) -> int:
    """Claude's fallback hash over UTF-16 code units, as a signed 32-bit integer."""
    value = 0
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        unit = data[i] | data[i + 1] << 8
        value = (value << 5) - value + unit
        value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
