"""0004: indexes for the web UI — a user's threads changed since N (live updates) and by
project (the project menu).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    op.create_index("ix_threads_user_change", "threads", ["user_id", "change"])
    op.create_index("ix_threads_user_project", "threads", ["user_id", "project"])
