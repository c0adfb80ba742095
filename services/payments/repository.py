"""All SQL of the payments service: parameterised statements only."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TypeAlias

import asyncpg

# Reads go through the pool or a connection; multi-statement writes need a transaction.
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

# -- charges --------------------------------------------------------------------------------
async def claim_charge(conn: Conn, *, charge_id: uuid.UUID, idempotency_key: str,
                       order_id: uuid.UUID, user_id: uuid.UUID, amount: Decimal, currency: str,
                       payment_method: str, provider: str,
                       request_hash: str) -> asyncpg.Record | None:
    """Insert the charge as `pending`; None when the idempotency key is already taken."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO charges (id, idempotency_key, order_id, user_id, amount, currency, "
        "                     payment_method, status, provider, request_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) "
        "ON CONFLICT (idempotency_key) DO NOTHING "
        "RETURNING *",
        charge_id, idempotency_key, order_id, user_id, amount, currency, payment_method,
        provider, request_hash)
    return row


async def get_charge_by_key(conn: Conn, idempotency_key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM charges WHERE idempotency_key = $1", idempotency_key)
    return row


async def get_charge(conn: Conn, charge_id: uuid.UUID, *,
                     for_update: bool = False) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM charges WHERE id = $1 FOR UPDATE" if for_update
        else "SELECT * FROM charges WHERE id = $1", charge_id)
    return row


async def take_over_charge(conn: Conn, charge_id: uuid.UUID,
                           lease: timedelta) -> asyncpg.Record | None:
    """Claim a pending charge whose last provider attempt is older than `lease`."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE charges SET attempted_at = now() "
        "WHERE id = $1 AND status = 'pending' AND attempted_at < now() - $2::interval "
        "RETURNING *", charge_id, lease)
    return row


async def release_charge_lease(conn: Conn, charge_id: uuid.UUID) -> None:
    """The provider failed: let the next request for this key try again at once."""
    await conn.execute(
        "UPDATE charges SET attempted_at = '-infinity' WHERE id = $1 AND status = 'pending'",
        charge_id)


async def settle_charge(conn: Conn, charge_id: uuid.UUID, *, succeeded: bool,
                        decline_reason: str | None, provider_ref: str) -> asyncpg.Record | None:
    """Store the provider's outcome once; None when the charge was already settled."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE charges SET status = $2, decline_reason = $3, provider_ref = $4, "
        "updated_at = now() WHERE id = $1 AND status = 'pending' "
        "RETURNING *",
        charge_id, "succeeded" if succeeded else "declined",
        None if succeeded else decline_reason, provider_ref)
    return row


async def hold_refund_amount(conn: asyncpg.Connection, charge_id: uuid.UUID,
                             amount: Decimal) -> asyncpg.Record | None:
    """The guarded update: None when the refunds would exceed the charge."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE charges SET refunded_amount = refunded_amount + $2, updated_at = now() "
        "WHERE id = $1 AND status = 'succeeded' AND refunded_amount + $2 <= amount "
        "RETURNING *", charge_id, amount)
    return row


async def return_refund_amount(conn: asyncpg.Connection, charge_id: uuid.UUID,
                               amount: Decimal) -> None:
    await conn.execute(
        "UPDATE charges SET refunded_amount = refunded_amount - $2, updated_at = now() "
        "WHERE id = $1", charge_id, amount)


# -- refunds --------------------------------------------------------------------------------
async def get_refund_by_key(conn: Conn, idempotency_key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM refunds WHERE idempotency_key = $1", idempotency_key)
    return row


async def get_refund(conn: Conn, refund_id: uuid.UUID, *,
                     for_update: bool = False) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM refunds WHERE id = $1 FOR UPDATE" if for_update
        else "SELECT * FROM refunds WHERE id = $1", refund_id)
    return row


async def claim_refund(conn: asyncpg.Connection, *, refund_id: uuid.UUID, idempotency_key: str,
                       charge_id: uuid.UUID, amount: Decimal,
                       request_hash: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO refunds (id, idempotency_key, charge_id, amount, status, request_hash) "
        "VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (idempotency_key) DO NOTHING "
        "RETURNING *",
        refund_id, idempotency_key, charge_id, amount, request_hash)
    return row


async def take_over_refund(conn: Conn, refund_id: uuid.UUID,
                           lease: timedelta) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE refunds SET attempted_at = now() "
        "WHERE id = $1 AND status = 'pending' AND attempted_at < now() - $2::interval "
        "RETURNING *", refund_id, lease)
    return row


async def release_refund_lease(conn: Conn, refund_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE refunds SET attempted_at = '-infinity' WHERE id = $1 AND status = 'pending'",
        refund_id)


async def settle_refund(conn: Conn, refund_id: uuid.UUID,
                        provider_ref: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE refunds SET status = 'succeeded', provider_ref = $2, updated_at = now() "
        "WHERE id = $1 AND status = 'pending' RETURNING *",
        refund_id, provider_ref)
    return row


async def fail_refund(conn: asyncpg.Connection, refund_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE refunds SET status = 'failed', updated_at = now() "
        "WHERE id = $1 AND status = 'pending' RETURNING *", refund_id)
    return row
