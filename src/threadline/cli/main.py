"""Entry point of the ``threadline`` console script.

``threadline push`` runs after every agent step and ``threadline hook`` on every prompt, so
both are dispatched here before click (≈25 ms of imports) is loaded: their modules use the
standard library only. Every other command goes through the click group in
:mod:`threadline.cli.app`, whose subcommands load lazily.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "push":
        from threadline.cli.push import run

        return run(args[1:])
    if args and args[0] == "hook":
        from threadline.cli.hook import run as run_hook

        return run_hook(args[1:])
    from threadline.cli.app import run_click

    return run_click(args)


if __name__ == "__main__":
    raise SystemExit(main())
