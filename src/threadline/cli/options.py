"""Checks of command-line options shared by several commands. Only click is imported here, so
a command that starts fast (``ask``) can use them."""

from __future__ import annotations

import click


def check_scope(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A ``--scope TYPE:ID`` option checked on the command line: a usage error names the
    option, before anything is sent."""
    from threadline import protocol as proto

    if value is not None:
        try:
            proto.parse_scope(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value
