"""0003: sign-in sessions of the web UI (the cookie's secret is stored hashed).

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations


def upgrade(op: Operations) -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.Text, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("last_seen_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("user_agent", sa.Text, nullable=True),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
