"""The click group of every command but the ``push`` fast path; subcommands load lazily."""

from __future__ import annotations

import importlib
import os
import sys

import click

from threadline import __version__
from threadline.cli.errors import report
from threadline.errors import ThreadlineError

#: command name → "module:attribute"; a module is imported only when its command runs.
COMMANDS: dict[str, str] = {
    "push": "threadline.cli.push:click_command",
    "thread": "threadline.cli.threads:thread",
    "sync": "threadline.cli.sync:sync",
    "login": "threadline.cli.login:login",
    "logout": "threadline.cli.login:logout",
    "config": "threadline.cli.config:config",
    "serve": "threadline.cli.serve:serve",
    "user": "threadline.cli.admin:user",
    "token": "threadline.cli.admin:token",
    "daemon": "threadline.cli.daemon:daemon",
    "hooks": "threadline.cli.hooks:hooks",
    "import": "threadline.cli.importer:import_",
    "mcp": "threadline.cli.mcp:mcp",
    "search": "threadline.cli.search:search",
    "save": "threadline.cli.handoff:save",
    "resume": "threadline.cli.handoff:resume",
    "handoff": "threadline.cli.handoff:handoff",
    "ask": "threadline.cli.ask:ask",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            command = command()  # a factory, for modules that must not import click
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="threadline")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Threadline keeps the work of AI coding agents: notes and session transcripts,
    stored locally first and synced to a self-hosted server."""
    ctx.obj = {"debug": debug}


def run_click(args: list[str]) -> int:
    debug = "--debug" in args or os.environ.get("THREADLINE_DEBUG") == "1"
    try:
        # Outside standalone mode click returns the code of ``ctx.exit(code)`` instead of
        # exiting with it.
        code = cli.main(args=args, prog_name="threadline", standalone_mode=False)
    except ThreadlineError as exc:
        if debug:
            raise
        return report(exc)
    except click.exceptions.Abort:
        sys.stderr.write("Aborted.\n")
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return code if isinstance(code, int) else 0
