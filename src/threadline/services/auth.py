"""Bearer tokens, password logins and the failed-login rate limit.

Tokens are ``tl_`` followed by 43 URL-safe characters (256 random bits). The server keeps only
their SHA-256 (hex) and a short prefix to show in listings; a lookup finds the row by hash and
compares with :func:`hmac.compare_digest`. Passwords are argon2 hashes. A token's
``last_used_at`` and its device's ``last_seen_at`` are written at most once a minute, so
authenticating is one indexed read on the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from threadline.errors import TooManyRequests, Unauthorized
from threadline.protocol.models import LoginRequest, LoginResponse
from threadline.services.inputs import NUL, text
from threadline.storage.database import Database
from threadline.storage.schema import devices, tokens, users
from threadline.storage.values import now_text, ts_text

TOKEN_PREFIX = "tl_"
DISPLAY_PREFIX_CHARS = 8
TOUCH_INTERVAL = timedelta(minutes=1)

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Account:
    """A user whose password was just checked."""

    id: int
    name: str
    is_admin: bool


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user and token (and device, if any) behind a bearer token."""

    user_id: int
    user: str
    is_admin: bool
    token_id: int
    device_pk: int | None
    device_uuid: str | None


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def insert_token(
    conn: sa.Connection, user_id: int, device_pk: int | None, name: str
) -> tuple[int, str]:
    """Store a new token for the user; return its id and its secret (shown once)."""
    secret = new_token_secret()
    token_id = conn.execute(
        tokens.insert()
        .values(
            user_id=user_id,
            device_id=device_pk,
            name=name,
            token_hash=hash_token(secret),
            prefix=secret[:DISPLAY_PREFIX_CHARS],
            created_at=now_text(),
        )
        .returning(tokens.c.id)
    ).scalar_one()
    return int(token_id), secret


# --- bearer authentication -------------------------------------------------------------------

_PRINCIPAL_QUERY = (
    sa.select(
        tokens.c.id,
        tokens.c.token_hash,
        tokens.c.revoked_at,
        tokens.c.last_used_at,
        tokens.c.device_id,
        users.c.id.label("user_id"),
        users.c.name,
        users.c.is_admin,
        devices.c.device_uuid,
    )
    .select_from(tokens.join(users, users.c.id == tokens.c.user_id))
    .outerjoin(devices, devices.c.id == tokens.c.device_id)
    .where(tokens.c.token_hash == sa.bindparam("token_hash"))
)


def authenticate(db: Database, authorization: str | None) -> Principal:
    """The principal behind an ``Authorization: Bearer`` header, or :class:`Unauthorized`."""
    secret = _bearer_secret(authorization)
    wanted = hash_token(secret)
    with db.read() as conn:
        row = conn.execute(_PRINCIPAL_QUERY, {"token_hash": wanted}).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        raise Unauthorized("unknown token")
    if row.revoked_at is not None:
        raise Unauthorized("this token was revoked")
    if _stale(row.last_used_at):
        _touch(db, row.id, row.device_id)
    return Principal(
        user_id=row.user_id,
        user=row.name,
        is_admin=bool(row.is_admin),
        token_id=row.id,
        device_pk=row.device_id,
        device_uuid=row.device_uuid,
    )


def _bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization header")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("the Authorization header is not `Bearer <token>`")
    return secret.strip()


def _stale(last_used_at: str | None) -> bool:
    if last_used_at is None:
        return True
    return last_used_at < ts_text(datetime.now(UTC) - TOUCH_INTERVAL)


def _touch(db: Database, token_id: int, device_pk: int | None) -> None:
    now = now_text()
    with db.write() as conn:
        conn.execute(tokens.update().where(tokens.c.id == token_id).values(last_used_at=now))
        if device_pk is not None:
            conn.execute(devices.update().where(devices.c.id == device_pk).values(last_seen_at=now))


def revoke(db: Database, token_id: int) -> None:
    with db.write() as conn:
        conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_text())
        )


# --- password login --------------------------------------------------------------------------


class LoginLimiter:
    """Counts failed logins per user name and per client address over a sliding window."""

    def __init__(self, max_failures: int = 10, window: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise :class:`TooManyRequests` if any key already has the maximum of failures."""
        now = time.monotonic()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        retry_after = max(waits)
        if retry_after > 0:
            raise TooManyRequests(
                "too many failed logins; try again later",
                detail={"retry_after": retry_after},
            )

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def _wait(self, key: str, now: float) -> int:
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.max_failures:
            return 0
        return max(1, int(failures[-self.max_failures] + self.window - now + 0.999))


def verify_login(
    db: Database, limiter: LoginLimiter, name: str, password: str, address: str | None
) -> Account:
    """The user ``name`` if ``password`` is theirs, under the failed-login rate limit.

    Raises :class:`TooManyRequests` while the name (or the address) has too many recent
    failures, and :class:`Unauthorized` for an unknown name or a wrong password, which counts
    as a failure. The work is the same whether the name exists or not. ``address`` ``None``
    counts against the name only (a signed-in user confirming their password).
    """
    keys = (f"user:{name}",) if address is None else (f"user:{name}", f"addr:{address}")
    limiter.check(*keys)
    user = None
    if NUL not in name:  # no user has one; PostgreSQL refuses it in a query
        with db.read() as conn:
            user = conn.execute(sa.select(users).where(users.c.name == name)).first()
    stored_hash = user.password_hash if user is not None else _DUMMY_HASH
    if not verify_password(stored_hash, password) or user is None:
        limiter.fail(*keys)
        raise Unauthorized("wrong user name or password", hint="Check the user name and password.")
    return Account(int(user.id), user.name, bool(user.is_admin))


def login(
    db: Database, limiter: LoginLimiter, request: LoginRequest, address: str
) -> LoginResponse:
    """Check the password and mint a token for the device (creating the device if new)."""
    user = verify_login(db, limiter, request.username, request.password, address)
    device_uuid = str(request.device_id)
    user_id = user.id

    device_name = text(request.device_name, "device_name")

    def work(conn: sa.Connection) -> tuple[int, str]:
        device_pk, _ = ensure_device(conn, user_id, device_uuid, device_name)
        return insert_token(conn, user_id, device_pk, device_name)

    token_id, secret = db.run_write(work)
    return LoginResponse(
        token=secret, token_id=token_id, user=user.name, device_id=request.device_id
    )


_DEVICE_QUERY = sa.select(devices.c.id, devices.c.name).where(
    devices.c.user_id == sa.bindparam("user_id"),
    devices.c.device_uuid == sa.bindparam("device_uuid"),
)


def ensure_device(
    conn: sa.Connection, user_id: int, device_uuid: str, name: str | None
) -> tuple[int, bool]:
    """The row id of the user's device and whether it was inserted now (named ``name``)."""
    row = conn.execute(_DEVICE_QUERY, {"user_id": user_id, "device_uuid": device_uuid}).first()
    if row is not None:
        if name and row.name != name:
            conn.execute(devices.update().where(devices.c.id == row.id).values(name=name))
        return int(row.id), False
    now = now_text()
    values = dict(user_id=user_id, device_uuid=device_uuid, name=name or "", created_at=now)
    inserted = conn.execute(
        devices.insert().values(last_seen_at=now, **values).returning(devices.c.id)
    ).scalar_one()
    return int(inserted), True
