"""Registering ``threadline mcp`` with the agents, keeping every other setting of theirs.

* Claude Code, user scope — what ``claude mcp add --scope user`` writes: the ``mcpServers``
  object of ``~/.claude.json`` (``$CLAUDE_CONFIG_DIR/.claude.json`` when that is set), an entry
  ``{"type": "stdio", "command", "args", "env"}``. The rest of that file (Claude Code keeps its
  state there) is rewritten unchanged — every number as it was written, since Python would
  write ``1e999`` back as ``Infinity``, which is not JSON — with the file's line endings; the
  first change keeps a copy beside it (``.threadline-backup``).
* Codex — ``[mcp_servers.threadline]`` in ``$CODEX_HOME/config.toml`` (``~/.codex``), edited
  with :mod:`tomlkit` so comments, order, line endings and every other table stay byte for
  byte: an entry already there is updated where it is, in whatever form it is written (a
  table, an inline table, dotted keys); a new one is appended as a table at the end. The result
  is read back with :mod:`tomllib` and must equal the file before with only our entry changed.

The keys we own in our entry are ``command``, ``args`` (and Claude's ``type``) and the
``THREADLINE_HOME`` variable of its ``env``; installing again updates those and keeps whatever
else the user put there (a ``timeout``, ``startup_timeout_sec``, other ``env`` variables).
The registered command is the absolute path of this installation's ``threadline`` (the agents
start it without a ``PATH`` of ours); a ``THREADLINE_HOME`` set while installing goes into the
entry's ``env``, since an agent passes only a few variables of its own environment on — and one
the entry held is taken out when installing without it, which :class:`Change` reports.
Installing twice changes nothing; uninstalling removes our entry only. A file that cannot be
read (not UTF-8, not JSON or TOML) is refused, and nothing is written.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from threadline import config as config_mod
from threadline import paths
from threadline.errors import ConfigError

NAME = "threadline"
CLAUDE = "claude-code"
CODEX = "codex"
#: The variable of our entry's ``env`` that install sets (or takes out).
HOME = "THREADLINE_HOME"
_NOTHING_CHANGED = "; nothing was changed"
_CODEX_HINT = "Fix or move that file, or run `codex mcp add` yourself."


@dataclass(frozen=True, slots=True)
class Target:
    agent: str  # CLAUDE or CODEX
    path: Path


def claude_file() -> Path:
    """Claude Code's user settings and state: ``$CLAUDE_CONFIG_DIR/.claude.json``, else
    ``~/.claude.json`` (beside the ``~/.claude`` folder, not inside it)."""
    folder = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(folder).expanduser() / ".claude.json" if folder else Path.home() / ".claude.json"


def codex_file() -> Path:
    """Codex's settings: ``$CODEX_HOME/config.toml``, else ``~/.codex/config.toml``."""
    home = os.environ.get("CODEX_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".codex") / "config.toml"


def targets(claude: bool, codex: bool) -> list[Target]:
    """The files to edit; neither flag means both agents."""
    if not claude and not codex:
        claude = codex = True
    return [Target(CLAUDE, claude_file())] * claude + [Target(CODEX, codex_file())] * codex


def entry(command: list[str]) -> dict[str, Any]:
    """Our registration, given how to run this ``threadline`` (``[path]`` or
    ``[python, "-m", "threadline"]``)."""
    home = os.environ.get(HOME)
    return {
        "command": command[0],
        "args": [*command[1:], "mcp"],
        "env": {HOME: home} if home else {},
    }


@dataclass(frozen=True, slots=True)
class Change:
    """What installing does to an agent's file."""

    #: The file's new text; ``None`` when it is already as it should be.
    text: str | None
    #: The ``THREADLINE_HOME`` our entry set before and no longer sets (installed without it).
    dropped_home: str | None = None


def install(target: Target, command: list[str], *, dry_run: bool = False) -> Change:
    """Register (or refresh) our server. With ``dry_run`` nothing is written."""
    wanted = entry(command)
    if target.agent == CLAUDE:
        change = _claude_with(target.path, wanted)
    else:
        change = _codex_with(target.path, wanted)
    _write(target, change.text, dry_run)
    return change


def uninstall(target: Target, *, dry_run: bool = False) -> str | None:
    """Remove our server only; the new file's text if it changed, else ``None``."""
    if target.agent == CLAUDE:
        return _write(target, _claude_without(target.path), dry_run)
    return _write(target, _codex_without(target.path), dry_run)


def registered(target: Target) -> dict[str, Any] | None:
    """Our entry as the agent's file holds it, or ``None``."""
    if target.agent == CLAUDE:
        servers = _read_claude(target.path)[0].get("mcpServers")
    else:
        servers = _read_codex(target.path)[0].get("mcp_servers")
    found = servers.get(NAME) if isinstance(servers, dict) else None
    return found if isinstance(found, dict) else None


def _merged(
    found: Any, wanted: dict[str, Any], *, keep_empty_env: bool
) -> tuple[dict[str, Any], str | None]:
    """Our entry as ``found`` was, with the keys we own as ``wanted`` has them; and the
    ``THREADLINE_HOME`` taken out of its ``env``, if one was. An empty ``env`` is left out
    unless ``keep_empty_env`` or the user wrote it so."""
    old = found if isinstance(found, dict) else {}
    given = old.get("env")
    env = dict(given) if isinstance(given, dict) else {}
    home = wanted["env"].get(HOME)
    dropped = None
    if home:
        env[HOME] = home  # where it was, if it was there
    elif HOME in env:
        dropped = str(env.pop(HOME))
    merged = {**old, **{k: v for k, v in wanted.items() if k != "env"}, "env": env}
    if not env and not keep_empty_env and (dropped is not None or not isinstance(given, dict)):
        del merged["env"]
    return merged, dropped


def _write(target: Target, text: str | None, dry_run: bool) -> str | None:
    if text is None or dry_run:
        return text
    # A config linked from elsewhere (a dotfiles repository) is written where the link points:
    # replacing the link by a file would cut it.
    path = target.path.resolve() if target.path.is_symlink() else target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = path.with_name(path.name + ".threadline-backup")
    if target.agent == CLAUDE and path.exists() and not backup.exists():
        # As private as the file, which may hold an API key.
        _copy_private(path, backup)
    paths.write_atomic(path, text, mode=None if path.exists() else 0o600)
    return text


def _copy_private(source: Path, copy: Path) -> None:
    """``source``'s bytes into a new ``copy`` with ``source``'s permissions."""
    mode = source.stat().st_mode & 0o777
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)  # os.open's mode is cut by the umask
        fh.write(source.read_bytes())


def _text(path: Path, hint: str) -> str:
    """The file's text exactly as stored (its line endings too); ``""`` if there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}{_NOTHING_CHANGED}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise config_mod.not_utf8(path, exc, _NOTHING_CHANGED, hint) from None


def _newline(text: str) -> str:
    """The line ending most of ``text``'s lines have."""
    return "\r\n" if 2 * text.count("\r\n") > text.count("\n") else "\n"


def _lines(text: str) -> list[str]:
    """``text`` split after each ``\n`` (only there: a ``\r`` or form feed stays inside)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _line_endings_of(before: str, after: str) -> str:
    """``after`` with the lines it added or changed ending as ``before``'s lines mostly do;
    lines it kept are kept as they were."""
    newline = _newline(before)
    if newline == "\n":
        return after
    old, new = _lines(before), _lines(after)
    out: list[str] = []
    for tag, _, _, start, end in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        for line in new[start:end]:
            if tag != "equal" and line.endswith("\n") and not line.endswith("\r\n"):
                line = line[:-1] + newline
            out.append(line)
    return "".join(out)


# --- Claude Code ------------------------------------------------------------------------------

_CLAUDE_HINT = "Fix the file (or move it away) and run the command again."


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number as it was written, to be written back the same."""

    text: str


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _read_claude(path: Path) -> tuple[dict[str, Any], str]:
    """The file's object (numbers as :class:`_Number`) and its line ending."""
    text = _text(path, _CLAUDE_HINT)
    if not text.strip():
        return {}, "\n"
    try:
        data = json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_no_constant)
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not valid JSON ({exc}){_NOTHING_CHANGED}", hint=_CLAUDE_HINT
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        raise ConfigError(
            f'{path} does not hold a JSON object with an "mcpServers" object{_NOTHING_CHANGED}',
            hint=_CLAUDE_HINT,
        )
    return data, _newline(text)


def _json(value: Any, indent: str = "") -> str:
    """``value`` as ``json.dumps(value, indent=2, ensure_ascii=False)`` writes it, with each
    :class:`_Number` as it was written."""
    inner = indent + "  "
    if isinstance(value, _Number):
        return value.text
    if isinstance(value, dict) and value:
        items = (f"{inner}{_json(str(k))}: {_json(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + _json(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _claude_text(data: dict[str, Any], servers: dict[str, Any], newline: str) -> str:
    return (_json({**data, "mcpServers": servers}) + "\n").replace("\n", newline)


def _claude_with(path: Path, wanted: dict[str, Any]) -> Change:
    data, newline = _read_claude(path)
    servers = dict(data.get("mcpServers") or {})
    found = servers.get(NAME)
    ours, dropped = _merged(found, {"type": "stdio", **wanted}, keep_empty_env=True)
    if found == ours:
        return Change(None)
    servers[NAME] = ours
    return Change(_claude_text(data, servers, newline), dropped)


def _claude_without(path: Path) -> str | None:
    data, newline = _read_claude(path)
    servers = dict(data.get("mcpServers") or {})
    if NAME not in servers:
        return None
    del servers[NAME]
    return _claude_text(data, servers, newline)


# --- Codex ----------------------------------------------------------------------------------


def _read_codex(path: Path) -> tuple[dict[str, Any], str]:
    """The file's table and its text."""
    text = _text(path, _CODEX_HINT)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}{_NOTHING_CHANGED}", hint=_CODEX_HINT
        ) from exc
    if not isinstance(data.get("mcp_servers", {}), dict):
        raise ConfigError(
            f"{path}: mcp_servers is not a table{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        )
    return data, text


def _inline(value: Any) -> Any:
    """``value``, with a dict made an inline table (``{KEY = "…"}``) so it stays in place."""
    import tomlkit

    if not isinstance(value, dict):
        return value
    table = tomlkit.inline_table()
    table.update({k: _inline(v) for k, v in value.items()})
    return table


def _codex_block(wanted: dict[str, Any], newline: str) -> str:
    """``[mcp_servers.threadline]`` holding ``wanted``, as appended to a file."""
    import tomlkit

    table = tomlkit.table()
    for key, value in wanted.items():
        table[key] = _inline(value)
    tail = tomlkit.document()
    tail["mcp_servers"] = tomlkit.table(is_super_table=True)
    tail["mcp_servers"][NAME] = table
    return tail.as_string().replace("\n", newline)


def _codex_with(path: Path, wanted: dict[str, Any]) -> Change:
    import tomlkit
    from tomlkit.items import InlineTable

    before, text = _read_codex(path)  # a file that is not TOML is refused here
    found = before.get("mcp_servers", {}).get(NAME)
    expected, dropped = _merged(found, wanted, keep_empty_env=False)
    if found == expected:
        return Change(None)
    newline = _newline(text)
    doc = tomlkit.parse(text)
    servers = doc.get("mcp_servers")
    ours = servers.get(NAME) if isinstance(servers, dict) else None
    if isinstance(ours, dict):
        _update(ours, expected)
        updated = _line_endings_of(text, doc.as_string())
    elif isinstance(servers, InlineTable):
        servers[NAME] = _inline(expected)
        updated = _line_endings_of(text, doc.as_string())
    else:
        separator = "" if not text else (newline if text.endswith("\n") else newline * 2)
        updated = text + separator + _codex_block(expected, newline)
    _check_codex(path, updated, before, expected)
    return Change(updated, dropped)


def _update(ours: dict[str, Any], expected: dict[str, Any]) -> None:
    """Our entry in the document set to ``expected``, a key at a time: what is already as
    expected keeps its form and its comments."""
    for key in ("command", "args"):
        if ours.get(key) != expected[key]:
            ours[key] = _inline(expected[key])  # a plain dict would become a [table] mid-file
    env = ours.get("env")
    if "env" not in expected:
        ours.pop("env", None)
    elif not isinstance(env, dict):
        ours["env"] = _inline(expected["env"])
    elif HOME in expected["env"]:
        if env.get(HOME) != expected["env"][HOME]:
            env[HOME] = expected["env"][HOME]
    else:
        env.pop(HOME, None)


def _codex_without(path: Path) -> str | None:
    import tomlkit

    before, text = _read_codex(path)
    current = before.get("mcp_servers", {}).get(NAME)
    if not isinstance(current, dict):
        return None
    newline = _newline(text)
    block = _codex_block(current, newline)
    if text.endswith(block):
        updated = text[: -len(block)]  # what we appended: the file is as it was before
        updated = updated[: -len(newline)] if updated.endswith(newline * 2) else updated
    else:
        doc = tomlkit.parse(text)
        del doc["mcp_servers"][NAME]
        updated = _line_endings_of(text, doc.as_string())
    _check_codex(path, updated, before, None)
    return updated


def _check_codex(
    path: Path, text: str, before: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    """Raise :class:`ConfigError` unless ``text`` is TOML that reads as ``before`` with our
    entry ``expected`` (``None``: without our entry)."""
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot register the MCP server in {path}: {exc}{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        ) from exc
    wanted = {**before, "mcp_servers": dict(before.get("mcp_servers", {}))}
    if expected is None:
        wanted["mcp_servers"].pop(NAME, None)
    else:
        wanted["mcp_servers"][NAME] = expected
    if _without_empty_servers(after) != _without_empty_servers(wanted):
        raise ConfigError(
            f"cannot register the MCP server in {path}: the edit did not read back as "
            f"written{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        )


def _without_empty_servers(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without an empty ``mcp_servers`` table (what uninstalling may leave, or not)."""
    return {k: v for k, v in data.items() if k != "mcp_servers" or v}
