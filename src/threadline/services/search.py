"""Search over the text of every entry: the one service the API, the web, the CLI (through the
API) and the answers of questions call.

A query (:mod:`threadline.search.query`) is matched against the index that migrations 0005 and
0008 keep in the entries' own transactions, so an entry is found as soon as its push is
acknowledged. Results come in one list, paged with a cursor:

1. the word matches, best first (:func:`threadline.search.engine.ranked`: BM25 or
   ``ts_rank_cd``, prompts and replies above tool output, newest first among equals, over the
   :data:`~threadline.search.engine.RANKED` most recent matches) — those of ``ask``
   conversations after the others: an answer quotes the history, which comes first;
2. then, for a query of plain terms, the entries that hold the typed text inside a word
   (``Limiter`` in ``RateLimiter``), newest first.

The access check is here, once: only the caller's entries in their live threads are ever
read (another user's thread filter simply finds nothing). A cursor carries the user's change
value and the newest entry's key at the first page, so entries that arrive while paging
neither shift the pages nor move the range of newest entries a later page walks; and a digest
of the user, the query and the filters, so it pages only the search that gave it.

``since`` and ``until`` are UTC days (both included) or instants (RFC 3339, with an offset;
both included). A page says whether its word matches reached the
:data:`~threadline.search.engine.RANKED` most recent ones (``capped``): older matches were
then left out of the ranking.
"""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from threadline import protocol as p
from threadline.errors import BadRequest, ValidationFailed
from threadline.protocol.models import Kind, Role
from threadline.protocol.text import printable
from threadline.search import engine
from threadline.search.engine import Filters
from threadline.search.query import Query, parse
from threadline.search.text import searchable_text, snippet
from threadline.services import inputs, pages
from threadline.services.auth import Principal
from threadline.services.threads import parse_scope
from threadline.storage import search_index
from threadline.storage.changes import current_value
from threadline.storage.database import Database, in_write
from threadline.storage.schema import entries, threads
from threadline.storage.values import ts_text

DEFAULT_LIMIT = p.DEFAULT_SEARCH_LIMIT
#: Most results in one page.
MAX_LIMIT = p.MAX_SEARCH_LIMIT
#: The kind of ask's conversations: their entries come after the history's (they quote it).
ASK_KIND = "ask"
#: The agents whose sessions are threads of that kind.
AGENTS = ("claude-code", "codex")
#: Word matches ranked per query: the most recently stored ones (``capped`` says when reached).
RANKED = engine.RANKED
#: Hex digits of the digest tying a cursor to its search (user, query, filters).
CURSOR_DIGEST_CHARS = 12
#: Deepest offset a cursor may carry: past every word and substring candidate.
MAX_OFFSET = engine.RANKED + engine.SUBSTRING_CANDIDATES


@dataclass(frozen=True)
class SearchParams:
    query: str
    project: str | None = None  # None = every project
    kind: str | None = None  # thread kind
    agent: str | None = None  # "claude-code" | "codex" (thread kind of sessions)
    thread_id: str | None = None
    role: str | None = None  # entry role
    scope: str | None = None  # "type:id": only threads of that scope
    #: A UTC day from its start, or an aware datetime: that instant on (see :func:`bound`).
    since: date | datetime | None = None
    #: A UTC day to its end, or an aware datetime: up to that instant, included.
    until: date | datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    #: Only threads of one of these kinds (empty: any); with ``kind`` or ``agent``, both apply.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    thread_id: str
    entry_id: str
    seq: int
    ts: str
    role: str
    #: An excerpt around the best match (``…`` where cut), plain text.
    snippet: str
    #: Higher is better; ``0`` for a substring-only match.
    score: float
    #: ``/threads/{thread_id}?around={entry_id}#entry-{entry_id}``: the entry in the web UI.
    url: str
    thread_title: str | None
    thread_name: str
    project: str
    kind: str
    #: The entry's full searchable text (its text, then its tool calls).
    text: str
    #: ``[start, end)`` character offsets of the matches in :attr:`snippet`.
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SearchPage:
    query: str
    results: list[Hit]
    next_cursor: str | None
    #: Whether the word matches ranked were the :data:`~threadline.search.engine.RANKED`
    #: most recent ones: older matches of the query may exist that were not ranked.
    capped: bool = False


def search(db: Database, who: Principal, params: SearchParams) -> SearchPage:
    """One page of ``who``'s entries matching ``params``, in one read transaction."""
    query = parse(params.query)
    _check(params)
    with db.read() as conn:
        return _Search(conn, who.user_id, params, query).page()


def search_in(conn: sa.Connection, user_id: int, params: SearchParams) -> SearchPage:
    """:func:`search` inside a transaction the caller holds; in a write transaction, what it
    wrote so far is found too."""
    query = parse(params.query)
    _check(params)
    if conn.dialect.name == "sqlite" and in_write(conn) and search_index.has_index(conn):
        search_index.catch_up(conn)
    return _Search(conn, user_id, params, query).page()


# --- checking the parameters -----------------------------------------------------------------


def _check(params: SearchParams) -> None:
    if not 1 <= params.limit <= MAX_LIMIT:
        raise _invalid("limit", f"must be between 1 and {MAX_LIMIT}")
    _one_of("kind", params.kind, typing.get_args(Kind))
    for kind in params.kinds:
        _one_of("kinds", kind, typing.get_args(Kind))
    _one_of("agent", params.agent, AGENTS)
    _one_of("role", params.role, typing.get_args(Role))
    for name in ("project", "thread_id", "scope"):
        value = getattr(params, name)
        if value is not None:
            inputs.text(value, name)
    if params.scope is not None:
        parse_scope(params.scope)


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise _invalid(name, f"must be one of {', '.join(allowed)}")


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{name} {message}", detail={"errors": [{"loc": ["query", name], "msg": message}]}
    )


def _kinds(params: SearchParams) -> tuple[str, ...]:
    """The thread kinds wanted: ``kind`` and ``agent`` both name one; disagreeing, none."""
    wanted = {k for k in (params.kind, params.agent) if k is not None}
    if len(wanted) > 1:
        return ("",)  # no thread has an empty kind: nothing matches both
    if params.kinds:
        allowed = set(params.kinds)
        wanted = wanted & allowed if wanted else allowed
        return tuple(sorted(wanted)) or ("",)
    return tuple(wanted)


def bound(text: str | None, name: str) -> date | datetime | None:
    """A ``since`` or ``until`` query value: a UTC day ``YYYY-MM-DD``, or an RFC 3339
    date-time with an offset (``2026-11-21T09:30:00Z``, ``…+02:00``); empty: ``None``.
    ``400`` naming ``name`` otherwise (a date-time without an offset says no instant)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        when: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.utcoffset() is None:
        raise BadRequest(
            f"{name} must be a date like 2026-11-21 or a date-time with an offset like "
            f"2026-11-21T09:30:00Z, not {text[:50]!r}"
        )
    return when


def _day_text(day: date) -> str:
    return ts_text(datetime.combine(day, time(), UTC))


def _from_text(since: date) -> str:
    """The first stored ``ts`` that ``since`` lets through: an instant's own, a day's
    midnight (UTC)."""
    return ts_text(since) if isinstance(since, datetime) else _day_text(since)


def _before_text(until: date) -> str | None:
    """The first stored ``ts`` past ``until``: an instant's next microsecond (stored times
    have microseconds), the next day's midnight (UTC); ``None`` when nothing comes later."""
    if isinstance(until, datetime):
        try:
            return ts_text(until + timedelta(microseconds=1))
        except OverflowError:
            return None
    after = inputs.day_after(until)
    return _day_text(after) if after else None


# --- the search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranked:
    pk: int
    score: float
    substring: bool


class _Search:
    def __init__(self, conn: sa.Connection, user_id: int, params: SearchParams, query: Query):
        self.conn, self.user_id, self.params, self.query = conn, user_id, params, query
        if params.cursor is not None:
            horizon, self.offset, top, made = pages.decode(params.cursor, int, int, int, str)
            if self.offset > MAX_OFFSET:
                raise inputs.bad_cursor()
            if made != self._made_for():
                raise BadRequest(
                    "this cursor pages another search (another query, filter or user)",
                    code="bad_cursor",
                    hint="Pass the cursor with the query and filters that gave it, or start "
                    "this search without one.",
                )
        else:
            horizon, self.offset = current_value(conn, user_id), 0
            top = engine.newest_key(conn)
        self.horizon, self.top = int(horizon), int(top)
        self.filters = self._filters()
        self.capped = False

    def _filters(self) -> Filters:
        params = self.params
        return Filters(
            user_id=self.user_id,
            project=params.project,
            kinds=_kinds(params),
            thread_id=params.thread_id,
            role=params.role,
            scope=parse_scope(params.scope) if params.scope is not None else None,
            ts_from=_from_text(params.since) if params.since else None,
            ts_before=_before_text(params.until) if params.until else None,
            # A SQLite read is one snapshot, in which the first page sees exactly what the
            # horizon covers; PostgreSQL reads each statement afresh, so it always filters.
            horizon=self.horizon if self._needs_horizon() else None,
            top=self.top,
        )

    def _made_for(self) -> str:
        """What a cursor of this search is tied to: the user, the query and the filters
        (not the page size), as a short digest."""
        params = self.params
        made = [self.user_id, params.query, params.project, params.kind, params.agent,
                params.thread_id, params.role, params.scope, str(params.since),
                str(params.until), list(params.kinds)]  # fmt: skip
        data = json.dumps(made, ensure_ascii=False, separators=(",", ":")).encode()
        return hashlib.sha256(data).hexdigest()[:CURSOR_DIGEST_CHARS]

    def _needs_horizon(self) -> bool:
        return self.params.cursor is not None or self.conn.dialect.name != "sqlite"

    def page(self) -> SearchPage:
        limit = self.params.limit
        ranked = self._ranked(self.offset + limit + 1)
        shown = ranked[self.offset : self.offset + limit]
        more = len(ranked) > self.offset + limit
        made = self._made_for()
        cursor = pages.encode(self.horizon, self.offset + limit, self.top, made) if more else None
        return SearchPage(self.params.query, self._hits(shown), cursor, self.capped)

    def _ranked(self, wanted: int) -> list[_Ranked]:
        """Word matches, then substring matches, until ``wanted`` (or all there are)."""
        words = engine.ranked(self.conn, self.query, self.filters, wanted=wanted)
        self.capped = len(words) >= RANKED
        asked = self._asked([m.pk for m in words])
        if asked:  # the history first, then ask's conversations about it (in their order)
            words = [m for m in words if m.pk not in asked] + [m for m in words if m.pk in asked]
        found = [_Ranked(m.pk, m.score, False) for m in words]
        if len(found) < wanted:
            skip = {m.pk for m in words}
            more = engine.substrings(self.conn, self.query, self.filters, wanted - len(found), skip)
            found += [_Ranked(pk, 0.0, True) for pk in more]
        return found

    def _asked(self, pks: list[int]) -> set[int]:
        """The keys among ``pks`` of entries in ``ask`` threads (none looked for when the
        kinds searched leave no other kind beside them)."""
        kinds = self.filters.kinds
        if not pks or (kinds and (ASK_KIND not in kinds or set(kinds) == {ASK_KIND})):
            return set()
        query = (
            sa.select(entries.c.pk)
            .select_from(entries.join(threads, threads.c.id == entries.c.thread_id))
            .where(entries.c.pk.in_(pks), threads.c.kind == ASK_KIND)
        )
        return {int(pk) for pk in self.conn.execute(query).scalars()}

    def _hits(self, shown: list[_Ranked]) -> list[Hit]:
        if not shown:
            return []
        rows = {row.pk: row for row in self.conn.execute(_details([r.pk for r in shown]))}
        hits = []
        for item in shown:
            row = rows.get(item.pk)
            if row is not None and row.user_id == self.user_id:
                hits.append(self._hit(row, item))
        return hits

    def _hit(self, row: sa.Row[typing.Any], item: _Ranked) -> Hit:
        text = printable(searchable_text(row.text, row.parts))
        cut = snippet(text, self.query, substring=item.substring)
        return Hit(
            thread_id=row.thread_id,
            entry_id=row.entry_uuid,
            seq=int(row.seq),
            ts=row.ts,
            role=row.role,
            snippet=cut.text,
            score=item.score,
            url=p.entry_path(row.thread_id, row.entry_uuid),
            thread_title=row.title,
            thread_name=row.name,
            project=row.project,
            kind=row.kind,
            text=text,
            highlights=cut.highlights,
        )


#: What a hit shows of its entry and thread (also read by the ask evaluation).
HIT_COLUMNS = (
    entries.c.entry_uuid,
    entries.c.thread_id,
    entries.c.seq,
    entries.c.ts,
    entries.c.role,
    entries.c.text,
    entries.c.parts,
    threads.c.title,
    threads.c.name,
    threads.c.project,
    threads.c.kind,
)


def _details(pks: list[int]) -> sa.Select[typing.Any]:
    return (
        sa.select(entries.c.pk, entries.c.user_id, *HIT_COLUMNS)
        .select_from(entries.join(threads, threads.c.id == entries.c.thread_id))
        .where(entries.c.pk.in_(pks), threads.c.deleted_at.is_(None))
    )
