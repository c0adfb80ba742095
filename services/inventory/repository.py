"""All SQL of the inventory service: parameterised statements only.

Locking order, the same everywhere, so concurrent transactions never deadlock:
the order's row in reservation_orders first, then stock rows in ascending product_id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import TypeAlias

import asyncpg

# Reads go through the pool or a connection; writes need the transaction's connection.
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


# -- stock ----------------------------------------------------------------------------------
async def get_stock(conn: Conn, product_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT product_id, on_hand, reserved, version FROM stock WHERE product_id = $1",
        product_id)
    return row


async def set_on_hand(conn: asyncpg.Connection, product_id: uuid.UUID, on_hand: int, *,
                      create: bool) -> tuple[asyncpg.Record | None, bool]:
    """Set on_hand (never below reserved). Returns (row, changed); row None means the
    guard refused (on_hand < reserved) or the product is unknown and `create` is False."""
    if create:
        inserted = await conn.fetchrow(
            "INSERT INTO stock (product_id, on_hand) VALUES ($1, $2) "
            "ON CONFLICT (product_id) DO NOTHING "
            "RETURNING product_id, on_hand, reserved, version",
            product_id, on_hand)
        if inserted is not None:
            return inserted, True
    current = await conn.fetchrow(
        "SELECT product_id, on_hand, reserved, version FROM stock "
        "WHERE product_id = $1 FOR UPDATE", product_id)
    if current is None:
        return None, False
    if current["on_hand"] == on_hand:
        return current, False
    row = await conn.fetchrow(
        "UPDATE stock SET on_hand = $2, version = version + 1, updated_at = now() "
        "WHERE product_id = $1 AND reserved <= $2 "
        "RETURNING product_id, on_hand, reserved, version",
        product_id, on_hand)
    return row, row is not None


async def lock_stock(conn: asyncpg.Connection,
                     product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """Lock the stock rows of `product_ids` in ascending order (unknown ids are absent)."""
    rows = await conn.fetch(
        "SELECT product_id, on_hand, reserved, version FROM stock "
        "WHERE product_id = ANY($1::uuid[]) ORDER BY product_id FOR UPDATE",
        list(product_ids))
    return {r["product_id"]: r for r in rows}


async def add_reserved(conn: asyncpg.Connection, product_id: uuid.UUID,
                       quantity: int) -> asyncpg.Record | None:
    """The guarded reserve: None when fewer than `quantity` units are available."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE stock SET reserved = reserved + $2, version = version + 1, updated_at = now() "
        "WHERE product_id = $1 AND on_hand - reserved >= $2 "
        "RETURNING product_id, on_hand, reserved, version",
        product_id, quantity)
    return row


async def remove_reserved(conn: asyncpg.Connection, product_id: uuid.UUID,
                          quantity: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE stock SET reserved = reserved - $2, version = version + 1, updated_at = now() "
        "WHERE product_id = $1 AND reserved >= $2 "
        "RETURNING product_id, on_hand, reserved, version",
        product_id, quantity)
    return row


async def ship_reserved(conn: asyncpg.Connection, product_id: uuid.UUID,
                        quantity: int) -> asyncpg.Record | None:
    """Commit a held line: the units leave the warehouse (on_hand and reserved drop)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE stock SET on_hand = on_hand - $2, reserved = reserved - $2, "
        "version = version + 1, updated_at = now() "
        "WHERE product_id = $1 AND reserved >= $2 "
        "RETURNING product_id, on_hand, reserved, version",
        product_id, quantity)
    return row


async def ship_unreserved(conn: asyncpg.Connection, product_id: uuid.UUID,
                          quantity: int) -> asyncpg.Record | None:
    """Commit a line whose hold expired: only if the units are still available."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE stock SET on_hand = on_hand - $2, version = version + 1, updated_at = now() "
        "WHERE product_id = $1 AND on_hand - reserved >= $2 "
        "RETURNING product_id, on_hand, reserved, version",
        product_id, quantity)
    return row


# -- reservations ---------------------------------------------------------------------------
async def claim_order(conn: asyncpg.Connection, order_id: uuid.UUID,
                      request_hash: str) -> bool:
    """Insert the order's outcome row as `reserved`; False when the order id is known.

    A concurrent call with the same order id waits here on the primary key until the
    first transaction ends, then sees its row."""
    inserted = await conn.fetchval(
        "INSERT INTO reservation_orders (order_id, status, request_hash) "
        "VALUES ($1, 'reserved', $2) ON CONFLICT (order_id) DO NOTHING RETURNING true",
        order_id, request_hash)
    return bool(inserted)


async def get_order(conn: Conn, order_id: uuid.UUID, *,
                    for_update: bool = False) -> asyncpg.Record | None:
    sql = ("SELECT order_id, status, request_hash, unavailable, confirmed_at "
           "FROM reservation_orders WHERE order_id = $1")
    row: asyncpg.Record | None = await conn.fetchrow(sql + (" FOR UPDATE" if for_update else ""),
                                                     order_id)
    return row


async def mark_out_of_stock(conn: asyncpg.Connection, order_id: uuid.UUID,
                            unavailable: Sequence[uuid.UUID]) -> None:
    await conn.execute(
        "UPDATE reservation_orders SET status = 'out_of_stock', unavailable = $2, "
        "updated_at = now() WHERE order_id = $1", order_id, list(unavailable))


async def insert_lines(conn: asyncpg.Connection, order_id: uuid.UUID,
                       lines: Sequence[tuple[uuid.UUID, int]], ttl: timedelta) -> None:
    await conn.executemany(
        "INSERT INTO reservations (order_id, product_id, quantity, status, expires_at) "
        "VALUES ($1, $2, $3, 'reserved', now() + $4::interval)",
        [(order_id, pid, qty, ttl) for pid, qty in lines])


async def get_lines(conn: asyncpg.Connection, order_id: uuid.UUID) -> list[asyncpg.Record]:
    """The order's lines in ascending product_id (the stock locking order)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT product_id, quantity, status, expires_at FROM reservations "
        "WHERE order_id = $1 ORDER BY product_id", order_id)
    return rows


async def set_status(conn: asyncpg.Connection, order_id: uuid.UUID, status: str, *,
                     confirm: bool = False, ttl: timedelta | None = None) -> None:
    """Move the order and all its lines to `status`.

    `confirm` clears the lines' expiry (held until commit or release); `ttl` restarts it.
    """
    await conn.execute(
        "UPDATE reservation_orders SET status = $2, updated_at = now(), "
        "confirmed_at = CASE WHEN $3 THEN coalesce(confirmed_at, now()) ELSE confirmed_at END "
        "WHERE order_id = $1", order_id, status, confirm)
    await conn.execute(
        "UPDATE reservations SET status = $2, updated_at = now(), "
        "expires_at = CASE WHEN $3 THEN NULL "
        "                  WHEN $4::interval IS NOT NULL THEN now() + $4::interval "
        "                  ELSE expires_at END "
        "WHERE order_id = $1", order_id, status, confirm, ttl)


async def confirm_reserved(conn: Conn, order_id: uuid.UUID) -> bool:
    """Confirm an order that is reserved and not yet confirmed, in one statement: its lines
    lose their expiry. False when it is anything else (the caller then locks and looks).

    Racing the expiry sweep is safe: each side locks the order row and re-checks it as the
    other committed it (here `status = 'reserved'`, there `confirmed_at IS NULL`)."""
    confirmed = await conn.fetchval(
        "WITH o AS (UPDATE reservation_orders SET confirmed_at = now(), updated_at = now() "
        "           WHERE order_id = $1 AND status = 'reserved' AND confirmed_at IS NULL "
        "           RETURNING order_id), "
        "     l AS (UPDATE reservations SET expires_at = NULL, updated_at = now() "
        "           WHERE order_id IN (SELECT order_id FROM o) RETURNING 1) "
        "SELECT count(*) FROM o", order_id)
    return bool(confirmed)


async def expired_orders(conn: Conn, limit: int) -> list[uuid.UUID]:
    """Orders with a reserved line past its expiry (oldest first)."""
    rows = await conn.fetch(
        "SELECT order_id FROM reservations "
        "WHERE status = 'reserved' AND expires_at IS NOT NULL AND expires_at < now() "
        "GROUP BY order_id ORDER BY min(expires_at) LIMIT $1", limit)
    return [r["order_id"] for r in rows]


async def lock_expired_order(conn: asyncpg.Connection, order_id: uuid.UUID) -> bool:
    """Lock the order if it is still reserved, unconfirmed and past its expiry; skip it if
    busy. `confirmed_at` is checked on the order row itself: a confirm that commits while
    this statement runs is seen there, when its lines' expiry may still look past."""
    locked = await conn.fetchval(
        "SELECT true FROM reservation_orders o WHERE o.order_id = $1 AND o.status = 'reserved' "
        "AND o.confirmed_at IS NULL "
        "AND EXISTS (SELECT 1 FROM reservations r WHERE r.order_id = o.order_id "
        "            AND r.status = 'reserved' AND r.expires_at < now()) "
        "FOR UPDATE OF o SKIP LOCKED", order_id)
    return bool(locked)
