"""0002: transcripts — a thread's parent key (subagent sessions) and a stream's generation and
source file.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    op.add_column("threads", sa.Column("parent_key", sa.Text, nullable=True))
    op.create_index("ix_threads_user_parent", "threads", ["user_id", "parent_key"])
    op.add_column(
        "streams",
        sa.Column("generation", sa.BigInteger, nullable=False, server_default=sa.text("1")),
    )
    op.add_column("streams", sa.Column("source", sa.Text, nullable=True))
