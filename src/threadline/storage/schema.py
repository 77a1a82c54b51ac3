"""The server's tables as SQLAlchemy Core objects, for building queries.

The migrations in :mod:`threadline.storage.migrations` create these tables; this module only
describes them (a test checks the two agree). Timestamps are UTC text (see :mod:`values`), JSON
is text, ids are UUID text, and every thread and stream row carries ``change``: the value of
the user's change cursor when it was last touched.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: A BIGINT key that is still SQLite's auto-incrementing rowid.
BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("device_uuid", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("last_seen_at", sa.Text, nullable=True),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", BigKey, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("last_used_at", sa.Text, nullable=True),
    sa.Column("revoked_at", sa.Text, nullable=True),
)

user_cursors = sa.Table(
    "user_cursors",
    metadata,
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

threads = sa.Table(
    "threads",
    metadata,
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
    sa.Column("parent_key", sa.Text, nullable=True),
    # What the thread is about (``pr`` and ``123`` for ``pr:123``); both or neither are set.
    sa.Column("scope_type", sa.Text, nullable=True),
    sa.Column("scope_id", sa.Text, nullable=True),
)

streams = sa.Table(
    "streams",
    metadata,
    sa.Column("pk", BigKey, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("stream_uuid", sa.Text, nullable=False),
    sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.id"), nullable=False),
    sa.Column("device_id", sa.BigInteger, sa.ForeignKey("devices.id"), nullable=True),
    sa.Column("tail", sa.BigInteger, nullable=False),
    sa.Column("change", sa.BigInteger, nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=False, server_default=sa.text("1")),
    sa.Column("source", sa.Text, nullable=True),
)

entries = sa.Table(
    "entries",
    metadata,
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
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("last_seen_at", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("user_agent", sa.Text, nullable=True),
)

#: A user's content-addressed blobs (hand-off): ``sha256`` is the hex digest of the
#: uncompressed bytes, ``size`` their length, ``data`` the same bytes zstd-compressed.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

#: A save of a session with its git state (hand-off); ``save_id`` is unique per user, ``files``
#: and ``excluded`` are JSON, ``created`` is the client's time, ``hash`` the content's SHA-256.
saves = sa.Table(
    "saves",
    metadata,
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
)

#: The blobs a save refers to, one per role (``bundle``, ``patch``, ``untracked``).
save_blobs = sa.Table(
    "save_blobs",
    metadata,
    sa.Column("save_pk", sa.BigInteger, sa.ForeignKey("saves.pk"), primary_key=True),
    sa.Column("role", sa.Text, primary_key=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
)
