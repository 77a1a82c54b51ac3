"""TEMPORARY stand-in of the search service, with the agreed signature only.

The real search service (full-text index, ranking, snippets) replaces this module when it is
merged; until then ``ask`` is developed against this signature. It scans entries with LIKE —
every word must appear — and scores by how often the words occur.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from threadline.storage.schema import entries, threads


@dataclass(frozen=True)
class SearchParams:
    query: str
    project: str | None = None
    kind: str | None = None
    agent: str | None = None
    thread_id: str | None = None
    role: str | None = None
    scope: str | None = None
    since: date | None = None
    until: date | None = None
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Hit:
    thread_id: str
    entry_id: str
    seq: int
    ts: str
    role: str
    snippet: str
    score: float
    url: str
    thread_title: str | None
    thread_name: str
    project: str
    kind: str
    text: str
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SearchPage:
    query: str
    results: list[Hit]
    next_cursor: str | None


def search_in(conn: sa.Connection, user_id: int, params: SearchParams) -> SearchPage:
    any_of = " OR " in params.query
    words = [w.rstrip("*") for w in params.query.lower().split() if w and w != "or"]
    query = (
        sa.select(entries, threads.c.title, threads.c.name, threads.c.project, threads.c.kind)
        .join(threads, threads.c.id == entries.c.thread_id)
        .where(entries.c.user_id == user_id, threads.c.deleted_at.is_(None))
    )
    if params.project is not None:
        query = query.where(threads.c.project == params.project)
    found = [sa.func.lower(entries.c.text).contains(word, autoescape=True) for word in words]
    query = query.where(sa.or_(*found) if any_of else sa.and_(*found))
    rows = conn.execute(query.order_by(entries.c.ts.desc()).limit(500)).all()
    hits = [
        Hit(
            thread_id=r.thread_id,
            entry_id=r.entry_uuid,
            seq=r.seq,
            ts=r.ts,
            role=r.role,
            snippet=r.text[:200],
            score=float(sum(r.text.lower().count(w) for w in words)),
            url=f"/threads/{r.thread_id}?around={r.entry_uuid}",
            thread_title=r.title,
            thread_name=r.name,
            project=r.project,
            kind=r.kind,
            text=r.text,
        )
        for r in rows
    ]
    hits.sort(key=lambda h: -h.score)
    return SearchPage(params.query, hits[: params.limit], None)
