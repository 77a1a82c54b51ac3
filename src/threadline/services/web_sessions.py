"""Browser sign-ins: the rows of ``web_sessions`` behind the web UI's session cookie.

- A session is known by the SHA-256 of a random secret (the cookie's value); the secret itself
  is never stored, so a copy of the database signs nobody in.
- A session lasts :data:`SESSION_DAYS` days from the last visit; ``last_seen_at`` (and so the
  expiry) is written at most every :data:`TOUCH_EVERY`.
- Creating a session deletes every expired one, of anyone: sign-ins are rare enough to carry it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from threadline.services.auth import hash_token
from threadline.storage.database import Database
from threadline.storage.schema import users, web_sessions
from threadline.storage.values import ts_parse, ts_text

SESSION_DAYS = 30
#: ``last_seen_at`` is written at most this often per session.
TOUCH_EVERY = timedelta(minutes=5)
#: Longest ``User-Agent`` kept with a session.
MAX_USER_AGENT_CHARS = 300


@dataclass(frozen=True)
class Session:
    """A live session and its user."""

    user_id: int
    name: str
    is_admin: bool
    csrf: str
    session_hash: str


@dataclass(frozen=True)
class NewSession:
    """A session just created: the cookie's ``secret`` is only ever in this answer."""

    secret: str
    session_hash: str


_LOOKUP = (
    sa.select(web_sessions, users.c.name, users.c.is_admin)
    .join(users, users.c.id == web_sessions.c.user_id)
    .where(web_sessions.c.id_hash == sa.bindparam("digest"))
)


def create(db: Database, user_id: int, user_agent: str | None) -> NewSession:
    """A new session for ``user_id`` (expired sessions of anyone are deleted first)."""
    secret = secrets.token_urlsafe(32)
    digest = hash_token(secret)
    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= ts_text(now)))
        conn.execute(
            web_sessions.insert().values(
                id_hash=digest,
                user_id=user_id,
                csrf=secrets.token_urlsafe(24),
                created_at=ts_text(now),
                last_seen_at=ts_text(now),
                expires_at=ts_text(now + timedelta(days=SESSION_DAYS)),
                user_agent=(user_agent or "")[:MAX_USER_AGENT_CHARS],
            )
        )
    return NewSession(secret, digest)


def look_up(db: Database, secret: str) -> Session | None:
    """The live session of a cookie's ``secret`` (touched if due), or ``None`` (unknown or
    expired)."""
    digest = hash_token(secret)
    with db.read() as conn:
        row = conn.execute(_LOOKUP, {"digest": digest}).first()
    if row is None:
        return None
    now = datetime.now(UTC)
    if ts_parse(row.expires_at) <= now:
        return None
    if now - ts_parse(row.last_seen_at) > TOUCH_EVERY:
        touch(db, digest, now)
    return Session(int(row.user_id), row.name, bool(row.is_admin), row.csrf, digest)


def touch(db: Database, session_hash: str, now: datetime) -> None:
    """Mark the session seen at ``now``: it lasts :data:`SESSION_DAYS` from then."""
    expires = ts_text(now + timedelta(days=SESSION_DAYS))
    with db.write() as conn:
        conn.execute(
            web_sessions.update()
            .where(web_sessions.c.id_hash == session_hash)
            .values(last_seen_at=ts_text(now), expires_at=expires)
        )


def end(db: Database, session_hash: str) -> None:
    """Sign the session out (delete it)."""
    with db.write() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.id_hash == session_hash))


def end_others(db: Database, user_id: int, keep_hash: str) -> None:
    """Sign out every session of ``user_id`` but ``keep_hash`` (after a password change)."""
    with db.write() as conn:
        conn.execute(
            web_sessions.delete().where(
                web_sessions.c.user_id == user_id,
                web_sessions.c.id_hash != keep_hash,
            )
        )


def delete_expired(db: Database) -> int:
    """Delete every expired session; return how many there were."""
    with db.write() as conn:
        result = conn.execute(
            web_sessions.delete().where(web_sessions.c.expires_at <= ts_text(datetime.now(UTC)))
        )
    return int(result.rowcount or 0)
