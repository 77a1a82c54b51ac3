"""Registering ``threadline mcp`` with the agents, keeping every other setting of theirs.

* Claude Code, user scope — what ``claude mcp add --scope user`` writes: the ``mcpServers``
  object of ``~/.claude.json`` (``$CLAUDE_CONFIG_DIR/.claude.json`` when that is set), an entry
  ``{"type": "stdio", "command", "args", "env"}``. The rest of that file (Claude Code keeps its
  state there) is rewritten unchanged; the first change keeps a copy beside it
  (``.threadline-backup``).
* Codex — ``[mcp_servers.threadline]`` in ``$CODEX_HOME/config.toml`` (``~/.codex``), edited
  with :mod:`tomlkit` so comments, order and every other table stay byte for byte: an entry
  already there is updated where it is, in whatever form it is written (a table, an inline
  table, dotted keys); a new one is appended as a table at the end. The result is checked with
  :mod:`tomllib` before it is written.

The registered command is the absolute path of this installation's ``threadline`` (the agents
start it without a ``PATH`` of ours); a ``THREADLINE_HOME`` set while installing goes into the
entry's ``env``, since an agent passes only a few variables of its own environment on. Installing
twice changes nothing; uninstalling removes our entry only.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline import config as config_mod
from threadline import paths
from threadline.errors import ConfigError

NAME = "threadline"
CLAUDE = "claude-code"
CODEX = "codex"
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
    home = os.environ.get("THREADLINE_HOME")
    return {
        "command": command[0],
        "args": [*command[1:], "mcp"],
        "env": {"THREADLINE_HOME": home} if home else {},
    }


def install(target: Target, command: list[str], *, dry_run: bool = False) -> str | None:
    """Register (or refresh) our server; the new file's text if it changed, else ``None``.
    With ``dry_run`` nothing is written."""
    wanted = entry(command)
    if target.agent == CLAUDE:
        return _write(target, _claude_with(target.path, wanted), dry_run)
    return _write(target, _codex_with(target.path, wanted), dry_run)


def uninstall(target: Target, *, dry_run: bool = False) -> str | None:
    """Remove our server only; the new file's text if it changed, else ``None``."""
    if target.agent == CLAUDE:
        return _write(target, _claude_without(target.path), dry_run)
    return _write(target, _codex_without(target.path), dry_run)


def registered(target: Target) -> dict[str, Any] | None:
    """Our entry as the agent's file holds it, or ``None``."""
    if target.agent == CLAUDE:
        servers = _read_claude(target.path).get("mcpServers")
    else:
        servers = _read_codex(target.path).get("mcp_servers")
    found = servers.get(NAME) if isinstance(servers, dict) else None
    return found if isinstance(found, dict) else None


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


# --- Claude Code ------------------------------------------------------------------------------


def _read_claude(path: Path) -> dict[str, Any]:
    data = config_mod.read_json(
        path,
        hint="Fix the file (or move it away) and run the command again.",
        note=_NOTHING_CHANGED,
        blank_ok=True,
    )
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        raise ConfigError(
            f'{path} does not hold a JSON object with an "mcpServers" object{_NOTHING_CHANGED}',
            hint="Fix the file (or move it away) and run the command again.",
        )
    return data


def _claude_with(path: Path, wanted: dict[str, Any]) -> str | None:
    data = _read_claude(path)
    servers = dict(data.get("mcpServers") or {})
    ours = {"type": "stdio", **wanted}
    if servers.get(NAME) == ours:
        return None
    servers[NAME] = ours
    return json.dumps({**data, "mcpServers": servers}, indent=2, ensure_ascii=False) + "\n"


def _claude_without(path: Path) -> str | None:
    data = _read_claude(path)
    servers = dict(data.get("mcpServers") or {})
    if NAME not in servers:
        return None
    del servers[NAME]
    return json.dumps({**data, "mcpServers": servers}, indent=2, ensure_ascii=False) + "\n"


# --- Codex ----------------------------------------------------------------------------------


def _read_codex(path: Path) -> dict[str, Any]:
    try:
        data = config_mod.read_toml(path)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}{_NOTHING_CHANGED}", hint=_CODEX_HINT) from exc
    if not isinstance(data.get("mcp_servers", {}), dict):
        raise ConfigError(
            f"{path}: mcp_servers is not a table{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        )
    return data


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _inline(value: Any) -> Any:
    """``value``, with a dict made an inline table (``{KEY = "…"}``) so it stays in place."""
    import tomlkit

    if not isinstance(value, dict):
        return value
    table = tomlkit.inline_table()
    table.update({k: _inline(v) for k, v in value.items()})
    return table


def _codex_block(wanted: dict[str, Any]) -> str:
    """``[mcp_servers.threadline]`` holding ``wanted``, as appended to a file."""
    import tomlkit

    table = tomlkit.table()
    for key, value in wanted.items():
        table[key] = _inline(value)
    tail = tomlkit.document()
    tail["mcp_servers"] = tomlkit.table(is_super_table=True)
    tail["mcp_servers"][NAME] = table
    return tail.as_string()


def _managed(found: dict[str, Any]) -> dict[str, Any]:
    """The keys of our Codex entry that we set (the user may add others, such as
    ``startup_timeout_sec``; they are kept)."""
    return {k: found[k] for k in ("command", "args", "env") if k in found}


def _codex_with(path: Path, wanted: dict[str, Any]) -> str | None:
    import tomlkit
    from tomlkit.items import InlineTable

    text = _text(path)
    expected = _managed({k: v for k, v in wanted.items() if v or k != "env"})
    current = registered(Target(CODEX, path))  # a file that is not TOML is refused here
    if current is not None and _managed(current) == expected:
        return None
    doc = tomlkit.parse(text)
    servers = doc.get("mcp_servers")
    ours = servers.get(NAME) if isinstance(servers, dict) else None
    if isinstance(ours, dict):
        if "env" not in expected:
            ours.pop("env", None)
        for key, value in expected.items():
            ours[key] = _inline(value)  # a plain dict would become a [table] mid-file
        updated = doc.as_string()
    elif isinstance(servers, InlineTable):
        servers[NAME] = _inline(expected)
        updated = doc.as_string()
    else:
        separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        updated = text + separator + _codex_block(expected)
    _check_codex(path, updated, expected)
    return updated


def _codex_without(path: Path) -> str | None:
    import tomlkit

    text = _text(path)
    current = registered(Target(CODEX, path))
    if current is None:
        return None
    block = _codex_block(current)
    if _managed(current) == current and text.endswith(block):
        updated = text[: -len(block)]  # what we appended: the file is as it was before
        updated = updated[:-1] if updated.endswith("\n\n") else updated
    else:
        doc = tomlkit.parse(text)
        del doc["mcp_servers"][NAME]
        updated = doc.as_string()
    _check_codex(path, updated, None)
    return updated


def _check_codex(path: Path, text: str, expected: dict[str, Any] | None) -> None:
    """Raise :class:`ConfigError` unless ``text`` is TOML whose entry is ``expected``."""
    try:
        servers = tomllib.loads(text).get("mcp_servers", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot register the MCP server in {path}: {exc}{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        ) from exc
    found = servers.get(NAME) if isinstance(servers, dict) else None
    if (_managed(found) if isinstance(found, dict) else found) != expected:
        raise ConfigError(
            f"cannot register the MCP server in {path}: the edit did not read back as "
            f"written{_NOTHING_CHANGED}",
            hint=_CODEX_HINT,
        )
