"""Every SQL statement of the orders service (asyncpg, parameterised).

Ownership is enforced in the queries (`owner` narrows a read to one customer); status changes
are guarded updates (`WHERE status = ANY($expected)`), so a replayed activity changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from services.common import telemetry

Conn: TypeAlias = Any  # asyncpg.Connection or a pool proxy (asyncpg ships no types)



@dataclass(frozen=True, slots=True)
class NewLine:
    product_id: uuid.UUID
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(frozen=True, slots=True)
class NewOrder:
    id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None
    currency: str
    total: Decimal
    payment_method: str
    shipping_address_json: str
    idempotency_key: str | None
    request_hash: str | None
    lines: Sequence[NewLine]
    created_event: str
    created_payload_json: str
    created_at: datetime


# The columns of an order row, as every read of one returns them.
ORDER_COLUMNS = ("id, user_id, user_email, status, cancel_reason, currency, total, payment_method,"
                 " shipping_address::text AS shipping_address, charge_id, refund_id, request_hash,"
                 " created_at, updated_at, carrier, tracking_number")

async def insert_order(conn: Conn, order: NewOrder) -> bool:
    """Insert the order, its lines, its first history row and its `order.created` outbox row,
    and mark its workflow start as requested now (this request schedules it): one statement,
    so all of it or nothing. Returns False (and writes nothing) when the customer already
    has an order with this Idempotency-Key."""
    lines = order.lines
    inserted = await conn.fetchval(
        "WITH o AS ("
        "  INSERT INTO orders (id, user_id, user_email, status, currency, total, payment_method,"
        "   shipping_address, idempotency_key, request_hash, created_at, updated_at,"
        "   workflow_scheduled_at)"
        "  VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7::jsonb, $8, $9, $10, $10, now())"
        "  ON CONFLICT ON CONSTRAINT orders_idempotency DO NOTHING RETURNING id, created_at),"
        " i AS ("
        "  INSERT INTO order_items (order_id, line_no, product_id, name, unit_price, quantity,"
        "   line_total)"
        "  SELECT o.id, l.line_no, l.product_id, l.name, l.unit_price, l.quantity, l.line_total"
        "  FROM o, unnest($11::int[], $12::uuid[], $13::text[], $14::numeric[], $15::int[],"
        "   $16::numeric[]) AS l(line_no, product_id, name, unit_price, quantity, line_total)),"
        " h AS ("
        "  INSERT INTO order_status_history (order_id, status, at)"
        "  SELECT id, 'pending', created_at FROM o),"
        " x AS ("
        "  INSERT INTO order_outbox (order_id, event_type, payload, trace)"
        "  SELECT id, $17, $18::jsonb, $19::jsonb FROM o)"
        " SELECT count(*) FROM o",
        order.id, order.user_id, order.user_email, order.currency, order.total,
        order.payment_method, order.shipping_address_json, order.idempotency_key,
        order.request_hash, order.created_at,
        list(range(1, len(lines) + 1)), [ln.product_id for ln in lines],
        [ln.name for ln in lines], [ln.unit_price for ln in lines],
        [ln.quantity for ln in lines], [ln.line_total for ln in lines],
        order.created_event, order.created_payload_json, telemetry.trace_json(),
    )
    return bool(inserted)


async def find_by_idempotency_key(conn: Conn, user_id: uuid.UUID,
                                  key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM orders"  # noqa: S608 (constant columns)
        " WHERE user_id = $1 AND idempotency_key = $2",
        user_id, key)
    return row


async def get_order(conn: Conn, order_id: uuid.UUID, *,
                    owner: uuid.UUID | None = None) -> asyncpg.Record | None:
    """One order; with `owner`, only if it belongs to that customer."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM orders"  # noqa: S608 (constant columns)
        " WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)",
        order_id, owner)
    return row


async def get_status(conn: Conn, order_id: uuid.UUID) -> str | None:
    status: str | None = await conn.fetchval("SELECT status FROM orders WHERE id = $1", order_id)
    return status


_LIST_WHERE = ("($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)"
               " AND ($3::timestamptz IS NULL OR created_at >= $3)"
               " AND ($4::timestamptz IS NULL OR created_at < $4)")


async def list_orders(conn: Conn, *, owner: uuid.UUID | None, status: str | None, limit: int,
                      offset: int, since: datetime | None = None,
                      until: datetime | None = None) -> tuple[list[asyncpg.Record], int]:
    """A page of orders, newest first; `owner` None means every customer's (admins);
    `since` (inclusive) and `until` (exclusive) bound when they were placed."""
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM orders WHERE {_LIST_WHERE}",  # noqa: S608 (constant)
        owner, status, since, until)
    rows = await conn.fetch(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE {_LIST_WHERE}"  # noqa: S608 (constants)
        " ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6",
        owner, status, since, until, limit, offset)
    return list(rows), total


async def get_items(conn: Conn, order_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT order_id, product_id, name, unit_price, quantity, line_total FROM order_items"
        " WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, line_no", list(order_ids))
    return list(rows)


async def get_history(conn: Conn, order_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT order_id, status, reason, at FROM order_status_history"
        " WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, at, status", list(order_ids))
    return list(rows)


async def update_status(conn: Conn, order_id: uuid.UUID, to: str, expected: Sequence[str],
                        reason: str | None, at: datetime) -> asyncpg.Record | None:
    """Move the order to `to` if it is in one of `expected`; None when it is not."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE orders SET status = $2, cancel_reason = $4, updated_at = $5"  # noqa: S608
        " WHERE id = $1 AND status = ANY($3::text[])"
        f" RETURNING {ORDER_COLUMNS}",
        order_id, to, list(expected), reason if to == "cancelled" else None, at)
    return row


async def add_history(conn: Conn, order_id: uuid.UUID, status: str, reason: str | None,
                      at: datetime) -> None:
    await conn.execute(
        "INSERT INTO order_status_history (order_id, status, reason, at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (order_id, status) DO NOTHING", order_id, status, reason, at)



async def set_charge(conn: Conn, order_id: uuid.UUID, charge_id: str) -> None:
    await conn.execute("UPDATE orders SET charge_id = $2 WHERE id = $1 AND charge_id IS NULL",
                       order_id, charge_id)


async def set_refund(conn: Conn, order_id: uuid.UUID, refund_id: str) -> None:
    await conn.execute("UPDATE orders SET refund_id = $2 WHERE id = $1 AND refund_id IS NULL",
                       order_id, refund_id)


async def pending_order_ids(conn: Conn, *, older_than_s: float, created_before: datetime | None,
                            limit: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT id FROM orders WHERE status = 'pending'"
        " AND created_at < now() - make_interval(secs => $1)"
        " AND ($3::timestamptz IS NULL OR created_at < $3) ORDER BY created_at LIMIT $2",
        older_than_s, limit, created_before)
    return [r["id"] for r in rows]


async def claim_workflow_start(conn: Conn, order_id: uuid.UUID, *, quiet_s: float,
                               requested_before: datetime | None = None) -> bool:
    """True for the one caller allowed to schedule the pending order's workflow now: no
    start was requested for it in the last `quiet_s` seconds, or the last one was requested
    before `requested_before` (by a process that has since crashed)."""
    claimed = await conn.fetchval(
        "UPDATE orders SET workflow_scheduled_at = now() WHERE id = $1 AND status = 'pending'"
        " AND (workflow_scheduled_at IS NULL"
        "      OR workflow_scheduled_at < now() - make_interval(secs => $2)"
        "      OR workflow_scheduled_at < $3::timestamptz) RETURNING id",
        order_id, quiet_s, requested_before)
    return claimed is not None


async def try_lock(conn: Conn, key: int) -> bool:
    """A session-level advisory lock (one reconciler at a time across replicas)."""
    got: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
    return got


async def unlock(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)

