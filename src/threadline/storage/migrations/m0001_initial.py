"""0001: users, devices, tokens, per-user change cursors, threads, streams and entries.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("deleted_at IS NULL")


def upgrade(op: Operations) -> None:
    _accounts(op)
    _threads(op)
    _streams(op)
    _entries(op)


def _accounts(op: Operations) -> None:
    op.create_table(
        "users",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "devices",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("device_uuid", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("last_seen_at", sa.Text, nullable=True),
        sa.UniqueConstraint("user_id", "device_uuid", name="uq_devices_user_uuid"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", BigKey, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("last_used_at", sa.Text, nullable=True),
        sa.Column("revoked_at", sa.Text, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_tokens_hash"),
    )
    op.create_index("ix_tokens_user", "tokens", ["user_id"])
    op.create_table(
        "user_cursors",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def _threads(op: Operations) -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("last_activity_at", sa.Text, nullable=False),
        sa.Column("entry_count", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.Text, nullable=True),
        sa.Column("change", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ux_threads_user_key_live",
        "threads",
        ["user_id", "key"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index("ix_threads_user_key", "threads", ["user_id", "key"])
    op.create_index("ix_threads_user_activity", "threads", ["user_id", "last_activity_at", "id"])


def _streams(op: Operations) -> None:
    op.create_table(
        "streams",
        sa.Column("pk", BigKey, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("stream_uuid", sa.Text, nullable=False),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
        sa.Column("tail", sa.BigInteger, nullable=False),
        sa.Column("change", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("user_id", "stream_uuid", name="uq_streams_user_uuid"),
    )
    op.create_index("ix_streams_thread", "streams", ["thread_id"])
    op.create_index("ix_streams_user_change", "streams", ["user_id", "change"])


def _entries(op: Operations) -> None:
    op.create_table(
        "entries",
        sa.Column("pk", BigKey, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.id"), nullable=False),
        sa.Column("stream_pk", sa.BigInteger, sa.ForeignKey("streams.pk"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_uuid", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("parts", sa.Text, nullable=True),
        sa.Column("meta", sa.Text, nullable=True),
        sa.Column("raw", sa.Text, nullable=True),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("change", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("stream_pk", "seq", name="uq_entries_stream_seq"),
        sa.UniqueConstraint("user_id", "entry_uuid", name="uq_entries_user_uuid"),
    )
    op.create_index("ix_entries_thread_ts", "entries", ["thread_id", "ts", "pk"])
