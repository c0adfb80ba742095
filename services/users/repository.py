"""SQL of the users service: parameterised queries on `ecommerce_users` only."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from services.users.schemas import UserRead


class UserRow(UserRead):
    password_hash: str = ""

    def public(self) -> UserRead:
        return UserRead(id=self.id, email=self.email, name=self.name, role=self.role,
                       created_at=self.created_at, updated_at=self.updated_at,
                       email_verified=self.email_verified)


def _user(record: asyncpg.Record) -> UserRow:
    return UserRow(id=record["id"], email=record["email"], name=record["name"],
                   role=record["role"], created_at=record["created_at"],
                   updated_at=record["updated_at"],
                   email_verified=bool(record.get("email_verified")),
                   password_hash=record.get("password_hash") or "")



async def insert_user(db: asyncpg.Pool | asyncpg.Connection, email: str, name: str,
                      password_hash: str, role: str = "customer") -> UserRow | None:
    """The new user, or None when the e-mail is taken (whatever its case)."""
    record = await db.fetchrow(
        "INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT ((lower(email))) DO NOTHING"
        " RETURNING id, email, name, role, created_at, updated_at",
        email, name, password_hash, role)
    return _user(record) if record else None


async def get_by_email(db: asyncpg.Pool, email: str) -> UserRow | None:
    record = await db.fetchrow(
        "SELECT id, email, name, role, created_at, updated_at, password_hash,"
        " email_verified_at IS NOT NULL AS email_verified"
        " FROM users WHERE lower(email) = lower($1)", email)
    return _user(record) if record else None


async def get_by_id(db: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID,
                    *, with_hash: bool = False) -> UserRow | None:
    record = await db.fetchrow(
        "SELECT id, email, name, role, created_at, updated_at,"
        " email_verified_at IS NOT NULL AS email_verified,"
        " CASE WHEN $2 THEN password_hash END AS password_hash FROM users WHERE id = $1",
        user_id, with_hash)
    return _user(record) if record else None


async def update_profile(db: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID, *,
                         name: str | None, password_hash: str | None) -> UserRow | None:
    record = await db.fetchrow(
        "UPDATE users SET name = coalesce($2, name),"
        " password_hash = coalesce($3, password_hash), updated_at = now()"
        " WHERE id = $1 RETURNING id, email, name, role, created_at, updated_at,"
        " email_verified_at IS NOT NULL AS email_verified",
        user_id, name, password_hash)
    return _user(record) if record else None


async def replace_password_hash(db: asyncpg.Pool, user_id: uuid.UUID, old_hash: str,
                                new_hash: str) -> None:
    """Upgrade a hash to the current parameters unless the password changed meanwhile."""
    await db.execute("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                     user_id, old_hash, new_hash)


async def set_role(db: asyncpg.Pool, user_id: uuid.UUID, role: str) -> UserRow | None:
    record = await db.fetchrow(
        "UPDATE users SET role = $2,"
        " updated_at = CASE WHEN role = $2 THEN updated_at ELSE now() END"
        " WHERE id = $1 RETURNING id, email, name, role, created_at, updated_at,"
        " email_verified_at IS NOT NULL AS email_verified",
        user_id, role)
    return _user(record) if record else None


async def ensure_admin(db: asyncpg.Pool, email: str) -> bool:
    """Give the account `email` the admin role; False when it does not exist."""
    status: str = await db.execute(
        "UPDATE users SET role = 'admin', updated_at = now()"
        " WHERE lower(email) = lower($1) AND role <> 'admin'", email)
    if status != "UPDATE 0":
        return True
    return bool(await db.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email))


async def list_users(db: asyncpg.Pool, *, limit: int, offset: int, search: str | None = None,
                     role: str | None = None) -> tuple[list[UserRead], int]:
    """A page of accounts, oldest first; `search` matches part of the e-mail or the name,
    or the whole id."""
    where = ("($1::text IS NULL OR strpos(email, lower($1)) > 0"
             " OR strpos(lower(name), lower($1)) > 0 OR id::text = lower($1))"
             " AND ($2::text IS NULL OR role = $2)")
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                      readonly=True):
        total: int = await conn.fetchval(f"SELECT count(*) FROM users WHERE {where}",  # noqa: S608
                                         search, role)
        records = await conn.fetch(
            "SELECT id, email, name, role, created_at, updated_at,"  # noqa: S608
            f" email_verified_at IS NOT NULL AS email_verified FROM users WHERE {where}"
            " ORDER BY created_at, id LIMIT $3 OFFSET $4",
            search, role, limit, offset)
    return [_user(r).public() for r in records], total


# -- refresh tokens ------------------------------------------------------------------------
async def insert_refresh_token(db: asyncpg.Pool | asyncpg.Connection, *, digest: bytes,
                               family_id: uuid.UUID, user_id: uuid.UUID,
                               ttl: timedelta, chain_ttl: timedelta) -> uuid.UUID | None:
    """The new token of a chain; it expires `ttl` from now but never later than `chain_ttl`
    after the chain's first token. None when the chain is already that old."""
    token_id: uuid.UUID | None = await db.fetchval(
        "WITH chain AS (SELECT coalesce(min(issued_at), now()) + $5::interval AS ends"
        " FROM refresh_tokens WHERE family_id = $2)"
        " INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
        " SELECT $1, $2, $3, least(now() + $4::interval, chain.ends) FROM chain"
        " WHERE chain.ends > now() RETURNING id", digest, family_id, user_id, ttl, chain_ttl)
    return token_id


class Rotated:
    """What a successful rotation consumed."""

    def __init__(self, token_id: uuid.UUID, family_id: uuid.UUID, user: UserRow) -> None:
        self.token_id, self.family_id, self.user = token_id, family_id, user


async def consume_refresh_token(conn: asyncpg.Connection, digest: bytes) -> Rotated | None:
    """Mark a live refresh token used (exactly once, even under concurrent calls)."""
    record = await conn.fetchrow(
        "UPDATE refresh_tokens t SET used_at = now() FROM users u"
        " WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL"
        " AND t.expires_at > now() AND u.id = t.user_id"
        " RETURNING t.id AS token_id, t.family_id, u.id, u.email, u.name, u.role,"
        " u.created_at, u.updated_at, u.email_verified_at IS NOT NULL AS email_verified",
        digest)
    if record is None:
        return None
    return Rotated(record["token_id"], record["family_id"], _user(record))


async def link_successor(conn: asyncpg.Connection, token_id: uuid.UUID,
                         successor: uuid.UUID) -> None:
    await conn.execute("UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1",
                       token_id, successor)


async def refresh_token_state(db: asyncpg.Pool, digest: bytes
                              ) -> tuple[uuid.UUID, datetime | None] | None:
    """(family, used_at) of a known token, or None when it was never issued."""
    record = await db.fetchrow(
        "SELECT family_id, used_at FROM refresh_tokens WHERE token_hash = $1", digest)
    return (record["family_id"], record["used_at"]) if record else None


async def revoke_family(db: asyncpg.Pool | asyncpg.Connection, family_id: uuid.UUID) -> int:
    status: str = await db.execute(
        "UPDATE refresh_tokens SET revoked_at = now()"
        " WHERE family_id = $1 AND revoked_at IS NULL", family_id)
    return int(status.split()[-1])


async def revoke_user_tokens(db: asyncpg.Pool | asyncpg.Connection, user_id: uuid.UUID) -> int:
    status: str = await db.execute(
        "UPDATE refresh_tokens SET revoked_at = now()"
        " WHERE user_id = $1 AND revoked_at IS NULL", user_id)
    return int(status.split()[-1])


# -- account links (e-mail verification, password reset) ---------------------------------------
async def insert_link(conn: asyncpg.Connection, *, digest: bytes, user_id: uuid.UUID,
                      purpose: str, ttl: timedelta) -> uuid.UUID:
    link_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO account_links (digest, user_id, purpose, expires_at)"
        " VALUES ($1, $2, $3, now() + $4::interval) RETURNING id", digest, user_id, purpose, ttl)
    return link_id


async def use_link(conn: asyncpg.Connection, digest: bytes, purpose: str) -> uuid.UUID | None:
    """Mark the link used and return its user, in one guarded statement: a link works once,
    before it expires, for its purpose only."""
    user_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE account_links SET used_at = now() WHERE digest = $1 AND purpose = $2"
        " AND used_at IS NULL AND expires_at > now() RETURNING user_id", digest, purpose)
    return user_id


async def retire_links(conn: asyncpg.Connection, user_id: uuid.UUID, purpose: str) -> None:
    """Every other open link of this purpose stops working (a newer one, or a reset done)."""
    await conn.execute(
        "UPDATE account_links SET used_at = now() WHERE user_id = $1 AND purpose = $2"
        " AND used_at IS NULL", user_id, purpose)


async def mark_verified(conn: asyncpg.Connection, user_id: uuid.UUID) -> UserRow | None:
    record = await conn.fetchrow(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now())"
        " WHERE id = $1 RETURNING id, email, name, role, created_at, updated_at,"
        " email_verified_at IS NOT NULL AS email_verified",
        user_id)
    return _user(record) if record else None


async def set_password(conn: asyncpg.Connection, user_id: uuid.UUID,
                       password_hash: str) -> None:
    """A reset: the new hash, and the address is proven (the link reached its mailbox)."""
    await conn.execute(
        "UPDATE users SET password_hash = $2, updated_at = now(),"
        " email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
        user_id, password_hash)
