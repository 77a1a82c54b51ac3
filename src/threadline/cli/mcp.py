"""``threadline mcp [install|uninstall]``: the MCP server for agents, and registering it."""

from __future__ import annotations

import logging
import os
import sys

import click

from threadline.daemon import hooks as hooks_mod
from threadline.mcpserver import install as install_mod

_agents = [
    click.option("--claude", is_flag=True, help="Claude Code (user scope, ~/.claude.json)."),
    click.option("--codex", is_flag=True, help="Codex ($CODEX_HOME/config.toml)."),
    click.option("--dry-run", is_flag=True, help="Say what would change; write nothing."),
]


def _options(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_agents):
        func = option(func)
    return func


@click.group("mcp", invoke_without_command=True)
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Run the Model Context Protocol server over stdio (agents start this), with tools to
    search the history, ask it, list threads, read entries and record notes.

    `threadline mcp install` registers it with Claude Code and Codex."""
    if ctx.invoked_subcommand is None:
        from threadline.mcpserver import server

        if sys.stdin.isatty():
            click.echo(
                "threadline mcp speaks the Model Context Protocol on stdin and stdout: an agent "
                "starts it. Register it with `threadline mcp install`; Ctrl-D ends it.",
                err=True,
            )
        obj = ctx.obj if isinstance(ctx.obj, dict) else {}
        server.run(debug=bool(obj.get("debug")) or os.environ.get("THREADLINE_DEBUG") == "1")
        # The agent closed the connection and every call has finished. The interpreter's
        # teardown of the SDK's modules would cost the agent ≈0.7 s of CPU while it waits for
        # the server to exit; nothing is left to clean up but the output streams.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@mcp.command("install")
@_options
def install(claude: bool, codex: bool, dry_run: bool) -> None:
    """Register `threadline mcp` with the agents (both unless --claude or --codex), keeping
    their other settings and what was added to our entry; idempotent."""
    command = hooks_mod.threadline_command()
    for target in install_mod.targets(claude, codex):
        had = install_mod.registered(target) is not None
        change = install_mod.install(target, command, dry_run=dry_run)
        if change.text is None:
            what = "already registered"
        elif dry_run:
            what = "would update the registration" if had else "would register"
        else:
            what = "updated the registration" if had else "registered"
        click.echo(f"{target.agent}: {target.path}: {what}")
        if change.dropped_home is not None:
            does = "would no longer set" if dry_run else "no longer sets"
            click.echo(
                f"  THREADLINE_HOME is not set here, so the entry {does} it (it was "
                f"{change.dropped_home}): the agent's server uses the default data folder. "
                "Set THREADLINE_HOME and install again to keep it."
            )
    click.echo(f"Command: {' '.join([*command, 'mcp'])}")


@mcp.command("uninstall")
@_options
def uninstall(claude: bool, codex: bool, dry_run: bool) -> None:
    """Remove our registration from the agents, and nothing else."""
    for target in install_mod.targets(claude, codex):
        changed = install_mod.uninstall(target, dry_run=dry_run)
        if changed is None:
            what = "not registered"
        else:
            what = "would remove the registration" if dry_run else "removed the registration"
        click.echo(f"{target.agent}: {target.path}: {what}")
