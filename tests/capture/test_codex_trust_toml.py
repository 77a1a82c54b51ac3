"""``threadline hooks install --codex --trust`` edits Codex's ``config.toml`` in place: only the
``trusted_hash`` values of our hooks change or are added, whatever form the file writes them in.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.daemon import AgentHome
from tests.realclients.harness import codex_hook_trust_states


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentHome]:
    home = AgentHome(tmp_path / "agent")
    yield home
    home.cli("daemon", "stop")


def _installed(agent: AgentHome) -> dict[str, str]:
    """Install our Codex hooks (untrusted); ``{event label: trust key}`` and the hashes."""
    assert agent.cli("hooks", "install", "--codex").returncode == 0
    return codex_hook_trust_states(agent.codex)


def _key(expected: dict[str, str], label: str) -> str:
    (key,) = [k for k in expected if f":{label}:" in k]
    return key


def _trust(agent: AgentHome) -> str:
    result = agent.cli("hooks", "install", "--codex", "--trust")
    assert result.returncode == 0, result.stderr
    return (agent.codex / "config.toml").read_text(encoding="utf-8")


def _stored(text: str, keys: dict[str, str]) -> dict[str, str]:
    state = tomllib.loads(text)["hooks"]["state"]
    return {k: v["trusted_hash"] for k, v in state.items() if k in keys}


def test_a_hooks_table_with_dotted_keys_keeps_every_other_byte(agent: AgentHome) -> None:
    expected = _installed(agent)
    start, end = _key(expected, "session_start"), _key(expected, "session_end")
    before = (
        "# Codex settings, kept by hand\n"
        'model = "o3"  # the default\n'
        "\n"
        "[profiles.fast]\n"
        'model = "o4-mini"\n'
        "\n"
        "[hooks]\n"
        "# trusted by hand\n"
        'state."/elsewhere/hooks.json:stop:0:0".trusted_hash = "sha256:other"\n'
        f'state.{json.dumps(start)}.trusted_hash = "sha256:stale"  # from an older install\n'
        f"state.{json.dumps(end)}.trusted_hash = {json.dumps(expected[end])}\n"
        "\n"
        "[mcp_servers.docs]\n"
        'command = "docs-server"\n'
        'args = ["--port", "0"]  # any\n'
    )
    config = agent.codex / "config.toml"
    config.write_text(before, encoding="utf-8")
    after = _trust(agent)

    assert _stored(after, expected) == expected
    data = tomllib.loads(after)
    assert data["hooks"]["state"]["/elsewhere/hooks.json:stop:0:0"] == {
        "trusted_hash": "sha256:other"
    }
    assert data["mcp_servers"]["docs"] == {"command": "docs-server", "args": ["--port", "0"]}
    # The stale hash is replaced where it stood (its comment kept); the hook that had none is
    # added after everything else; not one other byte changes.
    in_place = before.replace('"sha256:stale"', json.dumps(expected[start]))
    assert after.startswith(in_place), after
    added = after[len(in_place) :]
    (prompt,) = set(expected) - {start, end}
    assert added == f'\n[hooks.state.{json.dumps(prompt)}]\ntrusted_hash = "{expected[prompt]}"\n'
    # Trusting again changes nothing.
    assert _trust(agent) == after


def test_top_level_dotted_keys_and_inline_tables_are_edited_in_their_own_form(
    agent: AgentHome,
) -> None:
    expected = _installed(agent)
    start = _key(expected, "session_start")
    others = sorted(set(expected) - {start})
    before = (
        f'hooks.state.{json.dumps(start)}.trusted_hash = "sha256:stale"\n'
        'approval_policy = "never"\n'
        "\n"
        "[tui]\n"
        "notifications = true\n"
    )
    config = agent.codex / "config.toml"
    config.write_text(before, encoding="utf-8")
    after = _trust(agent)
    assert _stored(after, expected) == expected
    assert after.startswith(before.replace('"sha256:stale"', json.dumps(expected[start])))
    assert tomllib.loads(after)["tui"] == {"notifications": True}

    # An inline ``state`` table cannot be extended by a header: the new entries go inside it.
    inline = (
        "[hooks]\n"
        f'state = {{ {json.dumps(others[0])} = {{ trusted_hash = "sha256:stale" }} }}\n'
        "\n"
        "[tui]\n"
        "notifications = false\n"
    )
    config.write_text(inline, encoding="utf-8")
    after = _trust(agent)
    assert _stored(after, expected) == expected
    assert tomllib.loads(after)["tui"] == {"notifications": False}
    assert after.endswith("\n\n[tui]\nnotifications = false\n") and after.count("[") == 2


def test_a_config_that_cannot_take_the_trust_is_left_as_it_was(agent: AgentHome) -> None:
    expected = _installed(agent)
    key = _key(expected, "session_start")
    before = f'# mine\n[hooks.state]\n{json.dumps(key)} = "not a table"\n'
    config = agent.codex / "config.toml"
    config.write_text(before, encoding="utf-8")
    result = agent.cli("hooks", "install", "--codex", "--trust")
    assert result.returncode == 1
    assert "Error: cannot record the hooks' trust in" in result.stderr
    assert "nothing was changed" in result.stderr and "Hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert config.read_text(encoding="utf-8") == before
