"""``threadline hooks install|uninstall|status``: agent hooks that make capture prompt."""

from __future__ import annotations

from typing import Any

import click

from threadline.cli.common import print_json, store
from threadline.daemon import hooks as hooks_mod
from threadline.store import db

_agents = [
    click.option("--claude", is_flag=True, help="Claude Code (settings.json)."),
    click.option("--codex", is_flag=True, help="Codex (hooks.json)."),
]


def _agent_options(func: Any) -> Any:
    for option in reversed(_agents):
        func = option(func)
    return func


@click.group("hooks")
def hooks() -> None:
    """Install the hooks that tell the daemon when a session starts, gets a prompt and ends.

    Without hooks sessions are still captured by the daemon's watcher; hooks start the daemon
    when it is not running and make capture immediate."""


@hooks.command("install")
@_agent_options
@click.option(
    "--trust",
    is_flag=True,
    help="Also record in Codex's config.toml that our hooks are trusted (Codex skips "
    "untrusted hooks).",
)
def install(claude: bool, codex: bool, trust: bool) -> None:
    """Add our hooks (both agents unless --claude or --codex); idempotent."""
    for target in hooks_mod.targets(claude, codex):
        changed = hooks_mod.install(target)
        what = ", ".join(changed) if changed else "already installed"
        click.echo(f"{target.agent}: {target.path}: {what}")
        if target.agent != "codex":
            continue
        if trust:
            trusted = hooks_mod.trust_codex(target)
            config = hooks_mod.codex_config(target)
            click.echo(f"  trusted in {config}: {', '.join(trusted) or 'already'}")
        elif hooks_mod.codex_trust(target) != "trusted":
            click.echo(
                "  Codex runs a new hook only once it is trusted: review it in Codex, or run "
                "`threadline hooks install --codex --trust`."
            )


@hooks.command("uninstall")
@_agent_options
def uninstall(claude: bool, codex: bool) -> None:
    """Remove our hooks, and only ours."""
    for target in hooks_mod.targets(claude, codex):
        removed = hooks_mod.uninstall(target)
        what = "removed from " + ", ".join(removed) if removed else "none installed"
        click.echo(f"{target.agent}: {target.path}: {what}")


@hooks.command("status")
@_agent_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(claude: bool, codex: bool, as_json: bool) -> None:
    """Show which of our hooks are installed, and when each last fired."""
    report: list[dict[str, Any]] = []
    with store() as conn:
        for target in hooks_mod.targets(claude, codex):
            found = hooks_mod.installed(target)
            item: dict[str, Any] = {
                "agent": target.agent,
                "file": str(target.path),
                "events": {
                    event: {
                        "installed": command is not None,
                        "command": command,
                        "last_fired": db.get_state(conn, f"hook:{target.agent}:{event}"),
                    }
                    for event, command in found.items()
                },
            }
            if target.agent == "codex":
                item["trusted"] = hooks_mod.codex_trust(target)
            report.append(item)
    if as_json:
        print_json(report)
        return
    for item in report:
        click.echo(f"{item['agent']} ({item['file']}):")
        for event, info in item["events"].items():
            mark = "installed" if info["installed"] else "not installed"
            fired = f", last fired {info['last_fired']}" if info["last_fired"] else ""
            click.echo(f"  {event:<18}{mark}{fired}")
        if "trusted" in item:
            click.echo(f"  {'trusted':<18}{item['trusted']}")
