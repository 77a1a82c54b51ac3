"""``threadline push``: record a note, then try to deliver everything pending.

The hot path. It runs after every agent step, so it imports the standard library only (no
click): the entry is committed to the local store first; delivery then gets a short deadline
(``push_timeout``, default 2 s). If the server is away or refuses, the command still exits 0 and
says in one line on stderr that the entry is queued and why — the entry is safe in the store
and the next ``push``, ``sync`` or daemon pass delivers it.
"""

from __future__ import annotations

import json
import sys

from threadline import config as config_mod
from threadline import protocol as p
from threadline.cli.errors import report
from threadline.errors import InvalidInput, StoreError, ThreadlineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


DESCRIPTION = """\
Record MESSAGE (or standard input) as an entry of a note thread, then deliver everything
pending to the server. The thread is created if it does not exist. The entry is committed
locally first; if the server cannot be reached in time it stays queued and the command still
succeeds, saying so on stderr."""

USAGE = "usage: threadline push [options] [MESSAGE ...]"
HELP = f"""{USAGE}

{DESCRIPTION}

options:
  -t, --thread NAME     thread name (default: the configured thread, 'main')
  -s, --scope TYPE:ID   the thread about TYPE:ID in the project (e.g. pr:123), whatever
                        its name; named NAME, else TYPE:ID, if it is created
  -p, --project P       project (default: threadline.toml, git remote, folder)
  -r, --role ROLE       {"|".join(p.ROLES)} (default: assistant)
  --timeout SECONDS     seconds to wait for the server (default: push_timeout, 2)
  --no-sync             only store locally; deliver later
  --json                print what was stored as JSON
  -v, --verbose         say what happened on stdout
  --debug               show tracebacks on errors
  -h, --help            show this help

MESSAGE '-' or no MESSAGE reads standard input.
"""

#: option → (attribute, takes a value). A hand-written parser: argparse and the gettext and
#: locale modules it pulls in cost ≈5 ms on every push.
OPTIONS = {
    "-t": ("thread", True),
    "--thread": ("thread", True),
    "-p": ("project", True),
    "--project": ("project", True),
    "-s": ("scope", True),
    "--scope": ("scope", True),
    "-r": ("role", True),
    "--role": ("role", True),
    "--timeout": ("timeout", True),
    "--no-sync": ("no_sync", False),
    "--json": ("json", False),
    "-v": ("verbose", False),
    "--verbose": ("verbose", False),
    "--debug": ("debug", False),
}


class UsageError(InvalidInput):
    """A command line ``push`` cannot parse (printed as argparse does, exit status 2)."""


class Args:
    def __init__(self) -> None:
        self.message: list[str] = []
        self.thread: str | None = None
        self.project: str | None = None
        self.scope: str | None = None
        self.role = "assistant"
        self.timeout: float | None = None
        self.no_sync = self.json = self.verbose = self.debug = False


def parse(argv: list[str]) -> Args:
    args = Args()
    items = iter(argv)
    for item in items:
        if item == "--":
            args.message.extend(items)
            break
        if not item.startswith("-") or item == "-":
            args.message.append(item)
            continue
        name, eq, inline = item.partition("=")
        if name not in OPTIONS:
            raise UsageError(f"unrecognized argument: {item}")
        attr, takes_value = OPTIONS[name]
        if not takes_value:
            setattr(args, attr, True)
            continue
        value = inline if eq else next(items, None)
        if value is None:
            raise UsageError(f"argument {name}: expected a value")
        setattr(args, attr, value)
    if args.role not in p.ROLES:
        choices = ", ".join(p.ROLES)
        raise UsageError(f"argument --role: invalid choice: {args.role!r} (choose from {choices})")
    if args.scope is not None:
        try:
            p.parse_scope(args.scope)
        except ValueError as exc:
            raise UsageError(f"argument --scope: {exc}") from None
    if args.timeout is not None:
        try:
            args.timeout = float(args.timeout)
        except ValueError:
            raise UsageError(f"argument --timeout: not a number: {args.timeout!r}") from None
    return args


def run(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(HELP)
        return 0
    try:
        args = parse(argv)
    except UsageError as exc:
        sys.stderr.write(f"{USAGE}\nthreadline push: error: {exc}\n")
        return 2
    try:
        return _push(args)
    except ThreadlineError as exc:
        if args.debug:
            raise
        return report(exc)


def _message(args: Args) -> str:
    if args.message and args.message != ["-"]:
        return " ".join(args.message)
    return sys.stdin.read()


def _push(args: Args) -> int:
    from threadline.store import notes

    if not args.message and sys.stdin.isatty():
        raise InvalidInput(
            "no message given", hint="Pass the text as an argument, or pipe it on stdin."
        )
    text = _message(args)
    if not text.strip():
        raise InvalidInput("the message is empty", hint="Pass some text to record.")
    flags = {"thread": args.thread, "project": args.project, "push_timeout": args.timeout}
    cfg = config_mod.load(flags)
    # A scope names the thread; its name is only a label, the scope itself by default.
    name = cfg.thread if args.scope is None else args.thread or args.scope[: p.MAX_NAME_CHARS]
    conn, added = _store(cfg.project, name, args.role, text, args.scope)
    try:
        delivered, why = (False, "--no-sync") if args.no_sync else _deliver(conn, cfg, added)
        if not delivered:
            pending = notes.pending_count(conn)
            sys.stderr.write(f"threadline: entry queued ({pending} pending): {why}\n")
    finally:
        conn.close()
    _print(args, cfg, added, delivered)
    return 0


def _store(project: str, name: str, role: str, text: str, scope: str | None) -> tuple[Any, Any]:
    """Commit the entry to the local store; returns the open store and where it went.

    A store that cannot take it (a full disk) is an error: nothing was recorded."""
    from threadline.store import db, notes

    try:
        conn = db.connect()
        try:
            added = notes.append(
                conn, project=project, name=name, role=role, text=text, scope=scope
            )
        except BaseException:
            conn.close()
            raise
    except StoreError as exc:
        raise StoreError(f"the entry was not stored: {exc.message}", hint=exc.hint) from exc
    return conn, added


def _deliver(conn: Any, cfg: config_mod.Config, added: Any) -> tuple[bool, str]:
    """Try to deliver within the timeout; returns (delivered, why not)."""
    from threadline.sync import deliver

    # zstandard is a heavy import; gzip it is
    return deliver.deliver_entry(conn, cfg, (added.stream_id, added.seq), zstd=False)


def _print(args: Args, cfg: config_mod.Config, added: Any, delivered: bool) -> None:
    if args.json:
        out = {"id": added.uuid, "thread": added.name, "project": cfg.project}
        out.update(seq=added.seq, delivered=delivered, thread_created=added.thread_created)
        out["scope"] = args.scope
        sys.stdout.write(json.dumps(out) + "\n")
    elif args.verbose:
        state = "delivered" if delivered else "queued"
        where = f" [{args.scope}]" if args.scope is not None else ""
        sys.stdout.write(f"{cfg.project}/{added.name}{where} #{added.seq} {state}\n")


def click_command() -> Any:
    """``threadline push`` as seen by ``threadline --help`` (the real work is :func:`run`)."""
    import click

    @click.command(
        "push",
        help=DESCRIPTION,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    @click.pass_context
    def push(ctx: click.Context) -> None:
        ctx.exit(run(ctx.args))

    return push
