"""Helpers shared by the client-side click commands."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from threadline import config as config_mod
from threadline.client.api import Api
from threadline.protocol.text import one_line
from threadline.store import db
from threadline.sync.views import parse_time


def load_config(**flags: Any) -> config_mod.Config:
    return config_mod.load(flags)


@contextmanager
def store() -> Iterator[sqlite3.Connection]:
    conn = db.connect()
    try:
        yield conn
    finally:
        conn.close()


def api(cfg: config_mod.Config, *, timeout: float = 10.0) -> Api:
    return Api.from_config(cfg, timeout=timeout)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def relative_time(ts: str | None, now: datetime | None = None) -> str:
    """``2026-11-21T10:00:00Z`` → ``5 min ago``."""
    if not ts:
        return "-"
    try:
        when = parse_time(ts)
    except ValueError:
        return ts
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def when(ts: str | None) -> str:
    """``2026-11-21T10:00:00Z (5 min ago)``, or ``never``."""
    return f"{ts} ({relative_time(ts)})" if ts else "never"


def table(rows: list[list[str]], headers: list[str]) -> None:
    """A plain aligned table (stable output, readable in a pipe)."""
    rows = [[one_line(str(c)) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for line in [headers, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip())


def warn(message: str) -> None:
    sys.stderr.write(f"threadline: {message}\n")
