"""Users and their tokens: ``threadline user`` / ``threadline token`` and the account page.

Every function takes an open :class:`~threadline.storage.database.Database` and raises
:mod:`threadline.errors` types with a hint. A user is created together with its change-cursor
row, so every write path can lock that row first. Token secrets are returned once, by
:func:`create_token`, and never stored. The administrator's functions name users; the
``own_`` functions and :func:`user_tokens` act for a signed-in user, on that user's tokens only
(another user's token is ``404``, exactly like a missing one). Names with a NUL character are
refused (``422``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from threadline.errors import Conflict, NotFound, ValidationFailed
from threadline.protocol import MAX_NAME_CHARS
from threadline.services.auth import hash_password, insert_token, revoke
from threadline.services.inputs import NUL, fits, text
from threadline.storage.database import Database
from threadline.storage.schema import devices, tokens, user_cursors, users
from threadline.storage.values import now_text

FIRST_ADMIN = "admin"


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    is_admin: bool
    created_at: str


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    name: str
    prefix: str
    #: The device's UUID and name, for a token minted by a device's login.
    device_id: str | None
    device: str | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class NewToken:
    id: int
    user: str
    name: str
    secret: str


def create_user(db: Database, name: str, password: str, *, is_admin: bool = False) -> UserInfo:
    """Create a user with an argon2 password hash; :class:`Conflict` if the name is taken."""
    _check_name(name)
    if not password:
        raise ValidationFailed("the password is empty", hint="Choose a non-empty password.")
    password_hash = hash_password(password)
    created_at = now_text()

    def work(conn: sa.Connection) -> int:
        if _user_id(conn, name) is not None:
            raise Conflict(f"user {name!r} already exists", code="user_exists")
        user_id = conn.execute(
            users.insert()
            .values(
                name=name, password_hash=password_hash, is_admin=is_admin, created_at=created_at
            )
            .returning(users.c.id)
        ).scalar_one()
        conn.execute(user_cursors.insert().values(user_id=user_id, value=0))
        return int(user_id)

    return UserInfo(db.run_write(work), name, is_admin, created_at)


def list_users(db: Database) -> list[UserInfo]:
    with db.read() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
    return [UserInfo(r.id, r.name, bool(r.is_admin), r.created_at) for r in rows]


def has_users(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(sa.select(users.c.id).limit(1)).first() is not None


def ensure_first_admin(db: Database, password: str | None = None) -> tuple[str, str] | None:
    """On a database without users, create ``admin``; return its name and password then."""
    if has_users(db):
        return None
    password = password or secrets.token_urlsafe(15)
    try:
        create_user(db, FIRST_ADMIN, password, is_admin=True)
    except Conflict:
        return None  # another replica created it first
    return FIRST_ADMIN, password


def create_token(db: Database, user: str, name: str = "") -> NewToken:
    """Mint a token for ``user`` (not bound to a device); the secret is only in the answer."""
    text(name, "token name")

    def work(conn: sa.Connection) -> tuple[int, str]:
        return insert_token(conn, _require_user(conn, user), None, name)

    token_id, secret = db.run_write(work)
    return NewToken(token_id, user, name, secret)


_TOKENS = (
    sa.select(
        tokens,
        users.c.name.label("user_name"),
        devices.c.device_uuid,
        devices.c.name.label("device_name"),
    )
    .join(users, users.c.id == tokens.c.user_id)
    .outerjoin(devices, devices.c.id == tokens.c.device_id)
)


def list_tokens(db: Database, user: str | None = None) -> list[TokenInfo]:
    """Every token (or ``user``'s), oldest first."""
    query = _TOKENS.order_by(tokens.c.id)
    with db.read() as conn:
        if user is not None:
            query = query.where(tokens.c.user_id == _require_user(conn, user))
        rows = conn.execute(query).all()
    return [_token_info(row) for row in rows]


def user_tokens(db: Database, user_id: int) -> list[TokenInfo]:
    """The tokens of ``user_id``: those in use first, newest first."""
    query = _TOKENS.where(tokens.c.user_id == user_id).order_by(
        tokens.c.revoked_at.is_not(None), tokens.c.id.desc()
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [_token_info(row) for row in rows]


def create_own_token(db: Database, user_id: int, name: str) -> tuple[int, str]:
    """Mint a token named ``name`` for ``user_id``; return its id and its secret (shown once)."""
    text(name, "token name")
    return db.run_write(lambda conn: insert_token(conn, user_id, None, name))


def revoke_own_token(db: Database, user_id: int, token_id: int) -> None:
    """Revoke the user's token ``token_id`` (already revoked is fine); else :class:`NotFound`."""
    found = None
    if fits(token_id):
        mine = tokens.c.id == token_id, tokens.c.user_id == user_id
        with db.read() as conn:
            found = conn.execute(sa.select(tokens.c.id).where(*mine)).first()
    if found is None:
        raise NotFound("no such token", hint="The account page lists your tokens.")
    revoke(db, token_id)


def set_password(db: Database, user_id: int, password: str) -> None:
    """Store the argon2 hash of ``password`` as the user's password."""
    new_hash = hash_password(password)
    with db.write() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(password_hash=new_hash))


def revoke_token(db: Database, token_id: int) -> TokenInfo:
    """Revoke a token by id (already revoked is fine); :class:`NotFound` if there is none."""
    found = None
    if fits(token_id):
        with db.read() as conn:
            found = conn.execute(sa.select(tokens.c.id).where(tokens.c.id == token_id)).first()
    if found is None:
        raise NotFound(f"no token with id {token_id}", hint="`threadline token list` shows them.")
    revoke(db, token_id)
    return next(t for t in list_tokens(db) if t.id == token_id)


def _token_info(row: sa.Row[tuple[object, ...]]) -> TokenInfo:
    m = row._mapping
    return TokenInfo(
        id=m["id"],
        user=m["user_name"],
        name=m["name"],
        prefix=m["prefix"],
        device_id=m["device_uuid"],
        device=m["device_name"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


def _user_id(conn: sa.Connection, name: str) -> int | None:
    if NUL in name:  # no user has one; PostgreSQL refuses it in a query
        return None
    found = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar()
    return None if found is None else int(found)


def _require_user(conn: sa.Connection, name: str) -> int:
    user_id = _user_id(conn, name)
    if user_id is None:
        raise NotFound(
            f"no user named {name!r}",
            hint=f"Create it with `threadline user create {name}` (`threadline user list` lists).",
        )
    return user_id


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_CHARS or name != name.strip() or NUL in name:
        raise ValidationFailed(
            f"invalid user name {name!r}",
            hint=f"Use 1 to {MAX_NAME_CHARS} characters without leading or trailing spaces "
            "or control characters.",
        )
