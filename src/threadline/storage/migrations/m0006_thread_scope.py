"""0006: a thread's scope (``scope_type``, ``scope_id``: what the thread is about, such as
``pr`` and ``123``), at most one live thread per user, project and scope, and an index to list
a user's threads of a scope in every project.

Both indexes are partial: unscoped threads (``scope_type IS NULL``) take no room in them, and a
deleted thread (``deleted_at`` set) frees its scope. SQLite and PostgreSQL both enforce a
partial unique index.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

LIVE_SCOPED = sa.text("deleted_at IS NULL AND scope_type IS NOT NULL")
SCOPED = sa.text("scope_type IS NOT NULL")


def upgrade(op: Operations) -> None:
    op.add_column("threads", sa.Column("scope_type", sa.Text, nullable=True))
    op.add_column("threads", sa.Column("scope_id", sa.Text, nullable=True))
    op.create_index(
        "ux_threads_user_project_scope_live",
        "threads",
        ["user_id", "project", "scope_type", "scope_id"],
        unique=True,
        sqlite_where=LIVE_SCOPED,
        postgresql_where=LIVE_SCOPED,
    )
    op.create_index(
        "ix_threads_user_scope",
        "threads",
        ["user_id", "scope_type", "scope_id"],
        sqlite_where=SCOPED,
        postgresql_where=SCOPED,
    )
