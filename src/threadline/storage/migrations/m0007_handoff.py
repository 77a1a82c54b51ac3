"""0007: hand-off — saves of a session with its git state, and their content-addressed blobs.

- ``blobs``: one row per user and SHA-256 (hex of the uncompressed bytes), holding the bytes
  zstd-compressed. Blobs live in the database, not in files beside it: a blob is bounded by
  the server's ``max_blob_bytes``, a save and its blobs then commit, replicate, back up and
  vanish together, and replicas sharing a PostgreSQL need no shared disk.
- ``saves``: a save's fields; ``save_id`` (minted by the client) is unique per user, so one
  user's ids never collide with — or reveal — another's. ``hash`` is the SHA-256 of the save's
  canonical content, which decides whether a re-sent save is the same one.
- ``save_blobs``: which blobs a save refers to, by role (``bundle``, ``patch``,
  ``untracked``). The foreign key to ``blobs`` keeps a referenced blob from being deleted.

Shipped: never edit; add a new numbered migration instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    op.create_table(
        "blobs",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "sha256", name="pk_blobs"),
    )
    op.create_table(
        "saves",
        sa.Column("pk", BigKey, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("save_id", sa.Text, nullable=False),
        sa.Column("thread_id", sa.Text, nullable=True),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("agent", sa.Text, nullable=False),
        sa.Column("line_count", sa.BigInteger, nullable=False),
        sa.Column("remote", sa.Text, nullable=False),
        sa.Column("remote_key", sa.Text, nullable=False),
        sa.Column("branch", sa.Text, nullable=True),
        sa.Column("commit_sha", sa.Text, nullable=False),
        sa.Column("detached", sa.Boolean, nullable=False),
        sa.Column("upstream", sa.Text, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("device_name", sa.Text, nullable=False),
        sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
        sa.Column("resumed_from", sa.Text, nullable=True),
        sa.Column("repo_root", sa.Text, nullable=False),
        sa.Column("cwd", sa.Text, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("excluded", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("change", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("user_id", "save_id", name="uq_saves_user_save_id"),
    )
    op.create_index("ix_saves_user_created", "saves", ["user_id", "created", "save_id"])
    op.create_index(
        "ix_saves_user_remote_created", "saves", ["user_id", "remote_key", "created", "save_id"]
    )
    op.create_index("ix_saves_user_thread", "saves", ["user_id", "thread_id", "created"])
    op.create_index("ix_saves_user_change", "saves", ["user_id", "change"])
    op.create_table(
        "save_blobs",
        sa.Column("save_pk", sa.BigInteger, sa.ForeignKey("saves.pk"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("save_pk", "role", name="pk_save_blobs"),
        sa.ForeignKeyConstraint(
            ["user_id", "sha256"], ["blobs.user_id", "blobs.sha256"], name="fk_save_blobs_blob"
        ),
    )
    op.create_index("ix_save_blobs_user_sha", "save_blobs", ["user_id", "sha256"])
