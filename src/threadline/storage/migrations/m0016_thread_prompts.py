"""0016: each thread's prompts (entries of role ``user``) are indexed by their place in it.

Ask lends a matched entry the words of the prompts of its turn
(:func:`threadline.services.entries.prompts_before`): the last few entries of role ``user``
before it in its thread. Through ``ix_entries_thread_ts`` that is a walk back from the entry
over every row between it and those prompts, each row read for its role: in an agent's long
run (thousands of tool calls after one prompt) a walk to the thread's start for every
candidate. This partial index holds the prompts alone, so each walk reads as many index
entries as prompts it wants, whatever lies between.

Measured over a million synthetic entries (500 per thread): one candidate's walk, its rows
read from disk, 0.6 ms through the thread's index when its prompts are near, 4.4 ms when the
thread holds none (500 rows read), and 0.1 ms either way through this one. One more index
entry to write per prompt (about a tenth of a session's entries).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

from alembic.operations import Operations

from threadline.storage.migrations.m0005_search import _run

#: The partial index of each thread's prompts, in display order.
INDEX = "ix_entries_thread_prompts"


def upgrade(op: Operations) -> None:
    _run(op.get_bind(), f"CREATE INDEX {INDEX} ON entries (thread_id, ts, pk) WHERE role = 'user'")
