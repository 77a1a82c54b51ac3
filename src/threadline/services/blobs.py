"""Content-addressed blobs of a user (the bundle, patch and untracked files of a hand-off save).

A blob is named by the SHA-256 (64 lowercase hex digits) of its bytes and stored once per user,
zstd-compressed, in the database (``blobs``): a blob is bounded (``max_blob_bytes``), so a save
and its blobs commit, back up and replicate together, with no files beside the database.

Guarantees:

- A name that is not 64 lowercase hex digits is ``422`` before any query; no path or file is
  ever built from it.
- :func:`put_blob` stores the bytes only if their SHA-256 is the name (``422 sha256_mismatch``
  otherwise) and they are within the limit (``413 blob_too_large``); storing a blob that is
  already there changes nothing. Compression runs outside the write transaction.
- Every read is filtered by the caller's user: another user's blob is ``404``, exactly like a
  missing one.
- A blob is deleted only with the last save that refers to it (:mod:`handoff`); the foreign key
  of ``save_blobs`` keeps a referenced blob in place.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
import zstandard

from threadline import protocol as p
from threadline.errors import NotFound, PayloadTooLarge, ValidationFailed
from threadline.services.auth import Principal
from threadline.storage.database import Database
from threadline.storage.schema import blobs
from threadline.storage.values import now_text

#: zstd level of stored blobs: ≈3.5× on text at a few hundred MB/s; higher levels cost far
#: more time for a few percent.
ZSTD_LEVEL = 3
#: Bytes per chunk of a download, decompressed as it is sent.
CHUNK_BYTES = 1024 * 1024
MEDIA_TYPE = "application/octet-stream"

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Blob:
    """A stored blob: its name, its size uncompressed and its bytes as stored (zstd)."""

    sha256: str
    size: int
    compressed: bytes

    def chunks(self) -> Iterator[bytes]:
        """The uncompressed bytes, :data:`CHUNK_BYTES` at a time."""
        reader = zstandard.ZstdDecompressor().read_to_iter(
            io.BytesIO(self.compressed), write_size=CHUNK_BYTES
        )
        yield from reader


def check_sha256(value: str, what: str = "sha256") -> str:
    """``value`` if it names a blob (64 lowercase hex digits), else ``422``."""
    if not _SHA256.fullmatch(value):
        raise ValidationFailed(
            f"{what} must be 64 lowercase hex digits (a SHA-256), not {value[:80]!r}",
            hint="Name a blob by the SHA-256 of its uncompressed bytes, in lowercase hex.",
            detail={"errors": [{"loc": [what], "msg": "not a lowercase hex SHA-256"}]},
        )
    return value


def too_large(limit: int, size: int | None = None) -> PayloadTooLarge:
    detail: dict[str, int] = {"limit": limit}
    if size is not None:
        detail["size"] = size
    return PayloadTooLarge(
        f"a blob may hold at most {limit} bytes (uncompressed)",
        code=p.CODE_BLOB_TOO_LARGE,
        detail=detail,
        hint="The server's --max-blob-bytes sets the limit.",
    )


def put_blob(db: Database, who: Principal, sha256: str, body: bytes, limit: int) -> bool:
    """Store ``body`` as the caller's blob ``sha256``; ``True`` if it is new, ``False`` if it
    was already there."""
    check_sha256(sha256)
    if len(body) > limit:
        raise too_large(limit, len(body))
    actual = hashlib.sha256(body).hexdigest()
    if actual != sha256:
        raise ValidationFailed(
            f"the body's SHA-256 is {actual}, not {sha256}",
            code=p.CODE_SHA256_MISMATCH,
            detail={"expected": sha256, "actual": actual, "size": len(body)},
            hint="Send the blob's exact bytes (decompressed, they must hash to its name).",
        )
    if _exists(db, who.user_id, sha256):
        return False
    compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)

    def work(conn: sa.Connection) -> bool:
        if _size(conn, who.user_id, sha256) is not None:
            return False  # another upload of the same bytes came first
        conn.execute(
            blobs.insert().values(
                user_id=who.user_id,
                sha256=sha256,
                size=len(body),
                data=compressed,
                created_at=now_text(),
            )
        )
        return True

    return db.run_write(work)


def blob_size(db: Database, who: Principal, sha256: str) -> int:
    """The size of the caller's blob ``sha256`` (uncompressed); ``404`` if there is none."""
    check_sha256(sha256)
    with db.read() as conn:
        size = _size(conn, who.user_id, sha256)
    if size is None:
        raise _not_found(sha256)
    return size


def get_blob(db: Database, who: Principal, sha256: str) -> Blob:
    """The caller's blob ``sha256``; ``404`` if there is none."""
    check_sha256(sha256)
    query = sa.select(blobs.c.size, blobs.c.data).where(
        blobs.c.user_id == who.user_id, blobs.c.sha256 == sha256
    )
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise _not_found(sha256)
    return Blob(sha256, int(row.size), bytes(row.data))


def stored_bytes(conn: sa.Connection, user_id: int, sha256: str) -> int | None:
    """How many bytes the blob takes in the database (compressed), or ``None``."""
    query = sa.select(sa.func.length(blobs.c.data)).where(
        blobs.c.user_id == user_id, blobs.c.sha256 == sha256
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def missing(conn: sa.Connection, user_id: int, names: set[str]) -> set[str]:
    """Those of ``names`` that are not blobs of the user."""
    if not names:
        return set()
    query = sa.select(blobs.c.sha256).where(
        blobs.c.user_id == user_id, blobs.c.sha256.in_(sorted(names))
    )
    return names - set(conn.execute(query).scalars())


def _exists(db: Database, user_id: int, sha256: str) -> bool:
    with db.read() as conn:
        return _size(conn, user_id, sha256) is not None


def _size(conn: sa.Connection, user_id: int, sha256: str) -> int | None:
    query = sa.select(blobs.c.size).where(blobs.c.user_id == user_id, blobs.c.sha256 == sha256)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def _not_found(sha256: str) -> NotFound:
    return NotFound(
        f"no blob {sha256}",
        hint="Upload it with PUT /api/v1/blobs/{sha256} first.",
    )
