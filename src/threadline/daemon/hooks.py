"""Installing Threadline's hooks into Claude Code's ``settings.json`` and Codex's
``hooks.json``.

Both files hold ``{"hooks": {"<Event>": [{"matcher"?: …, "hooks": [{"type": "command",
"command": …}]}]}}``. Ours are the command hooks whose command runs ``threadline hook``; every
other key, event, matcher group and hook of the user is kept as it is. Installing twice changes
nothing; uninstalling removes only ours (and groups left empty by that).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline import config as config_mod
from threadline import paths
from threadline.errors import ConfigError
from threadline.watch import roots

EVENTS = ("SessionStart", "UserPromptSubmit", "SessionEnd")
#: Seconds the agent waits for our hook at most (it answers in well under 100 ms). Codex
#: allows at most 3 s for ``SessionEnd`` (and warns at every start about more).
HOOK_TIMEOUT = 3
MARKER = " hook "


@dataclass(frozen=True, slots=True)
class Target:
    agent: str  # "claude-code" or "codex"
    path: Path
    events: tuple[str, ...] = EVENTS


def claude_settings() -> Path:
    return roots.claude_home() / "settings.json"


def codex_hooks() -> Path:
    return roots.codex_home() / "hooks.json"


def targets(claude: bool, codex: bool) -> list[Target]:
    """The files to edit; neither flag means both agents."""
    if not claude and not codex:
        claude = codex = True
    out = []
    if claude:
        out.append(Target("claude-code", claude_settings()))
    if codex:
        out.append(Target("codex", codex_hooks()))
    return out


def threadline_command() -> list[str]:
    """How a hook runs this installation of Threadline, whatever the agent's ``PATH``."""
    script = Path(sys.executable).parent / "threadline"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "threadline"]


def hook_command(agent: str, event: str) -> str:
    return shlex.join([*threadline_command(), "hook", agent, event])


def is_ours(hook: Any) -> bool:
    command = hook.get("command") if isinstance(hook, dict) else None
    return isinstance(command, str) and "threadline" in command and MARKER in command


def read(path: Path) -> dict[str, Any]:
    data = config_mod.read_json(
        path,
        hint="Fix the file (or move it away) and run the command again.",
        note="; nothing was changed",
        blank_ok=True,
    )
    if not isinstance(data, dict) or not isinstance(data.get("hooks", {}), dict):
        raise ConfigError(f'{path} does not hold a JSON object with a "hooks" object')
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, keeping the file's mode; the first time we change a file, keep a
    copy of it next to it (``.threadline-backup``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = path.with_name(path.name + ".threadline-backup")
    if path.exists() and not backup.exists():
        backup.write_bytes(path.read_bytes())
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    paths.write_atomic(path, text, mode=None if path.exists() else 0o600)


def _hooks_of(group: Any) -> list[Any] | None:
    """The hook list of a matcher group, ``None`` if it is not a group with one."""
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return hooks if isinstance(hooks, list) else None


def _our_hooks(hooks: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, Any], int, Any]]:
    """``(event, group index, group, hook index, hook)`` for each of our hooks in a file's
    ``hooks`` object."""
    for event, groups in hooks.items():
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            for h, hook in enumerate(_hooks_of(group) or []):
                if is_ours(hook):
                    yield event, g, group, h, hook


def _without_ours(groups: Any) -> list[Any]:
    """The event's matcher groups with our hooks taken out (groups left empty dropped)."""
    if not isinstance(groups, list):
        return []
    kept = []
    for group in groups:
        entries = _hooks_of(group)
        if entries is None:
            kept.append(group)
            continue
        hooks = [h for h in entries if not is_ours(h)]
        if hooks:
            kept.append({**group, "hooks": hooks})
        elif not any(is_ours(h) for h in entries):
            kept.append(group)
    return kept


def install(target: Target) -> list[str]:
    """Add (or refresh) our hooks; returns the events that changed."""
    data = read(target.path)
    hooks = dict(data.get("hooks") or {})
    changed = []
    for event in target.events:
        ours = {"type": "command", "command": hook_command(target.agent, event)}
        ours["timeout"] = HOOK_TIMEOUT  # type: ignore[assignment]
        groups = _without_ours(hooks.get(event))
        groups.append({"hooks": [ours]})
        if groups != hooks.get(event):
            changed.append(event)
        hooks[event] = groups
    if changed:
        write(target.path, {**data, "hooks": hooks})
    return changed


def uninstall(target: Target) -> list[str]:
    """Remove our hooks only; returns the events they were removed from."""
    data = read(target.path)
    hooks = dict(data.get("hooks") or {})
    removed = []
    for event, groups in list(hooks.items()):
        kept = _without_ours(groups)
        if kept != groups:
            removed.append(event)
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    if removed:
        new = {**data, "hooks": hooks} if hooks else {k: v for k, v in data.items() if k != "hooks"}
        write(target.path, new)
    return removed


def installed(target: Target) -> dict[str, str | None]:
    """``{event: our command or None}`` for every event we install."""
    found: dict[str, str | None] = dict.fromkeys(target.events)
    for event, _, _, _, hook in _our_hooks(read(target.path).get("hooks") or {}):
        if event in found:
            found[event] = hook["command"]
    return found


# --- Codex hook trust ----------------------------------------------------------------------
#
# Codex runs a hook from hooks.json only once it is trusted: ``config.toml`` holds
# ``[hooks.state."<hooks.json path>:<event>:<group>:<hook>"]`` with ``trusted_hash =
# "sha256:<hex>"``, the hash of the hook's normalized definition (see :func:`codex_hook_hash`).
# A hook without it is skipped silently; one whose definition changed is skipped again.

#: Events whose matcher is part of the hash.
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
#: Events whose timeout defaults to 1 s and is cut to at most 3 s.
CODEX_SHORT_EVENTS = frozenset({"SessionEnd", "Interrupt"})


def codex_event_label(event: str) -> str:
    """``SessionStart`` → ``session_start``."""
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(event))


def codex_hook_hash(event: str, group: dict[str, Any], hook: dict[str, Any]) -> str:
    """The hash Codex keeps as ``trusted_hash`` for one command hook."""
    timeout = hook.get("timeout")
    if event in CODEX_SHORT_EVENTS:
        effective = min(max(timeout if isinstance(timeout, int) else 1, 1), 3)
    else:
        effective = max(timeout if isinstance(timeout, int) else 600, 1)
    normalized: dict[str, Any] = {
        "type": "command",
        "command": hook.get("command"),
        "timeout": effective,
        "async": bool(hook.get("async", False)),
    }
    if hook.get("statusMessage") is not None:
        normalized["statusMessage"] = hook["statusMessage"]
    identity: dict[str, Any] = {"event_name": codex_event_label(event), "hooks": [normalized]}
    if group.get("matcher") is not None and event in CODEX_MATCHER_EVENTS:
        identity["matcher"] = group["matcher"]
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _codex_ours(target: Target) -> dict[str, tuple[str, str]]:
    """``{event: (trust key, hash)}`` of our hooks in hooks.json."""
    where = os.path.abspath(target.path)
    found: dict[str, tuple[str, str]] = {}
    for event, g, group, h, hook in _our_hooks(read(target.path).get("hooks") or {}):
        key = f"{where}:{codex_event_label(event)}:{g}:{h}"
        found[event] = (key, codex_hook_hash(event, group, hook))
    return found


def codex_config(target: Target) -> Path:
    return target.path.with_name("config.toml")


def _trusted_hashes(config: Path) -> dict[str, Any]:
    hooks = config_mod.read_toml(config).get("hooks")
    state = hooks.get("state") if isinstance(hooks, dict) else None
    return state if isinstance(state, dict) else {}


def codex_trust_states(target: Target) -> dict[str, str]:
    """``{event: "trusted" | "modified" | "untrusted"}`` for each of our Codex hooks."""
    state = _trusted_hashes(codex_config(target))
    out = {}
    for event, (key, digest) in _codex_ours(target).items():
        entry = state.get(key)
        stored = entry.get("trusted_hash") if isinstance(entry, dict) else None
        out[event] = (
            "untrusted" if stored is None else "trusted" if stored == digest else "modified"
        )
    return out


def trust_codex(target: Target) -> list[str]:
    """Record in Codex's ``config.toml`` that our hooks are trusted (the user asked for it
    with ``--trust``). Returns the events changed.

    The file is edited with :mod:`tomlkit`, so everything else in it (comments, order, key
    styles) stays byte for byte: a ``trusted_hash`` already there is replaced where it is, in
    whatever form it is written (a table, an inline table, dotted keys); a new one goes into an
    inline ``hooks.state`` if the file has one, else into a ``[hooks.state."…"]`` table at the
    end. The result is checked with :mod:`tomllib` before it is written."""
    config = codex_config(target)
    states = codex_trust_states(target)
    pending = {
        event: (key, digest)
        for event, (key, digest) in _codex_ours(target).items()
        if states.get(event) != "trusted"
    }
    if not pending:
        return []
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    updated = _with_trust(config, text, dict(pending.values()))
    config.parent.mkdir(parents=True, exist_ok=True)
    paths.write_atomic(config, updated)
    return list(pending)


def _with_trust(config: Path, text: str, trust: dict[str, str]) -> str:
    """``text`` with ``hooks.state."<key>".trusted_hash = "<hash>"`` for each of ``trust``."""
    import tomlkit
    from tomlkit.items import InlineTable

    doc = tomlkit.parse(text)
    hooks = doc.get("hooks")
    if isinstance(hooks, InlineTable) and "state" not in hooks:
        hooks["state"] = tomlkit.inline_table()
    state = hooks.get("state") if isinstance(hooks, dict) else None
    appended = tomlkit.table(is_super_table=True)
    for key, digest in trust.items():
        entry = state.get(key) if isinstance(state, dict) else None
        if isinstance(entry, dict):
            entry["trusted_hash"] = digest
        elif entry is None and isinstance(state, InlineTable):
            state[key] = tomlkit.inline_table()
            state[key]["trusted_hash"] = digest
        else:
            appended[key] = tomlkit.table()
            appended[key]["trusted_hash"] = digest
    updated = doc.as_string()
    if appended:
        tail = tomlkit.document()
        tail["hooks"] = tomlkit.table(is_super_table=True)
        tail["hooks"]["state"] = appended
        if updated and not updated.endswith("\n"):
            updated += "\n"
        updated += ("\n" if updated.strip() else "") + tail.as_string()
    _check_trust(config, updated, trust)
    return updated


def _check_trust(config: Path, text: str, trust: dict[str, str]) -> None:
    """Raise :class:`ConfigError` unless ``text`` is TOML recording exactly ``trust``."""
    import tomllib

    try:
        hooks = tomllib.loads(text).get("hooks")
    except ValueError as exc:
        hooks, reason = None, str(exc)
    else:
        reason = "hooks.state does not hold a table per hook"
    state = hooks.get("state") if isinstance(hooks, dict) else None
    stored = {
        key: entry.get("trusted_hash")
        for key, entry in (state.items() if isinstance(state, dict) else ())
        if key in trust and isinstance(entry, dict)
    }
    if stored != trust:
        raise ConfigError(
            f"cannot record the hooks' trust in {config}: {reason}; nothing was changed",
            hint="Fix or move that file, or trust the hooks in Codex itself.",
        )


def codex_trust(target: Target) -> str:
    """One line for ``threadline hooks status``."""
    states = codex_trust_states(target)
    if not states:
        return "not installed"
    if all(s == "trusted" for s in states.values()):
        return "trusted"
    return ", ".join(f"{e} {s}" for e, s in states.items()) + (
        " (Codex skips untrusted hooks: review them in Codex, or `threadline hooks install "
        "--codex --trust`)"
    )
