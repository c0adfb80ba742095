"""Inventory domain: reserve all lines of an order or none, commit, release, confirm, expire.

Every operation is one transaction that locks the order's row, then its stock rows in
ascending product_id (see repository), so concurrent orders cannot oversell or deadlock.
`stock.changed` (with the row's version) is written to the outbox in the same transaction
and published right after it commits (services/common/outbox.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import msgspec
import structlog

from services.common.contracts.errors import ErrorCode
from services.common.contracts.events import EventType, StockChanged
from services.common.contracts.internal import (
    MAX_RESERVATION_QUANTITY,
    ReservationCreate,
    ReservationLine,
    ReservationRead,
    StockRead,
)
from services.common.dapr import Sidecar
from services.common.errors import InvalidInput, NotFound
from services.common.internal import CodedError
from services.common.names import TOPIC_INVENTORY
from services.common.outbox import Outbox
from services.inventory import repository

log = structlog.get_logger(__name__)

OUTBOX = Outbox("stock_outbox", TOPIC_INVENTORY, key_column="product_id")


class OutOfStock(CodedError):
    def __init__(self, unavailable: Sequence[uuid.UUID]) -> None:
        ids = sorted(str(u) for u in unavailable)
        super().__init__(409, ErrorCode.OUT_OF_STOCK,
                         f"Not enough stock for {len(ids)} product(s): {', '.join(ids)}",
                         unavailable=ids)


def merge_lines(items: Iterable[ReservationLine]) -> list[tuple[uuid.UUID, int]]:
    """One (product_id, quantity) per product, in ascending product_id (the lock order)."""
    totals: dict[uuid.UUID, int] = {}
    for line in items:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return sorted(totals.items())


def request_hash(lines: Sequence[tuple[uuid.UUID, int]]) -> str:
    canonical = msgspec.json.encode([[str(pid), qty] for pid, qty in lines])
    return hashlib.sha256(canonical).hexdigest()


def _available(row: asyncpg.Record) -> int:
    available: int = row["on_hand"] - row["reserved"]
    return available


def stock_read(row: asyncpg.Record) -> StockRead:
    return StockRead(product_id=row["product_id"], on_hand=row["on_hand"],
                     reserved=row["reserved"], available=row["on_hand"] - row["reserved"])


@dataclass(eq=False)
class InventoryService:
    """The inventory operations over one database pool and the app's sidecar; `ttl` is how
    long an unconfirmed reservation holds stock."""

    pool: asyncpg.Pool
    sidecar: Sidecar
    ttl: timedelta

    # -- reservations -------------------------------------------------------------------------
    async def reserve(self, req: ReservationCreate) -> ReservationRead:
        lines = merge_lines(req.items)
        if any(qty > MAX_RESERVATION_QUANTITY for _, qty in lines):
            raise InvalidInput("A product's total quantity may not exceed "
                               f"{MAX_RESERVATION_QUANTITY}")
        digest = request_hash(lines)
        changed: list[asyncpg.Record] = []
        unavailable: list[uuid.UUID] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if not await repository.claim_order(conn, req.order_id, digest):
                return await self._repeat(conn, req.order_id, digest)
            stock = await repository.lock_stock(conn, [pid for pid, _ in lines])
            unavailable = [pid for pid, qty in lines
                           if pid not in stock or _available(stock[pid]) < qty]
            if unavailable:
                await repository.mark_out_of_stock(conn, req.order_id, unavailable)
            else:
                for pid, qty in lines:
                    row = await repository.add_reserved(conn, pid, qty)
                    if row is None:  # cannot happen under the row locks; refuse, never oversell
                        raise RuntimeError(f"guarded reserve of {pid} failed under lock")
                    changed.append(row)
                await repository.insert_lines(conn, req.order_id, lines, self.ttl)
                await self._record(conn, changed)
        if unavailable:
            log.info("reservation_out_of_stock", order_id=str(req.order_id),
                     unavailable=[str(u) for u in unavailable])
            raise OutOfStock(unavailable)
        await self._publish(changed)
        return ReservationRead(order_id=req.order_id, status="reserved")

    async def _repeat(self, conn: asyncpg.Connection, order_id: uuid.UUID,
                      digest: str) -> ReservationRead:
        row = await repository.get_order(conn, order_id)
        if row is None:  # the claim conflicted, so the row exists (rows are never deleted)
            raise RuntimeError(f"reservation {order_id} vanished")
        if row["request_hash"] != digest:
            raise InvalidInput(f"Order {order_id} was already reserved with other lines")
        if row["status"] == "out_of_stock":
            raise OutOfStock(row["unavailable"])
        return ReservationRead(order_id=order_id, status=row["status"])

    async def commit(self, order_id: uuid.UUID) -> ReservationRead:
        """Shipment: the held units leave on_hand. Idempotent."""
        changed: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            order = await self._locked_order(conn, order_id)
            status = order["status"]
            if status == "committed":
                return ReservationRead(order_id=order_id, status="committed")
            if status in ("released", "out_of_stock"):
                raise CodedError(409, ErrorCode(f"reservation_{status}"),
                                 f"Reservation {order_id} is {status} and cannot be committed")
            lines = await repository.get_lines(conn, order_id)
            # expired: the hold lapsed, so ship only if nobody else has taken the units
            ship = repository.ship_reserved if status == "reserved" else repository.ship_unreserved
            changed = await self._apply_all(conn, lines, ship)
            await repository.set_status(conn, order_id, "committed")
            await self._record(conn, changed)
        await self._publish(changed)
        return ReservationRead(order_id=order_id, status="committed")

    async def release(self, order_id: uuid.UUID) -> ReservationRead:
        """Cancellation: held units become available again. Idempotent; unknown is a no-op."""
        changed: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            order = await repository.get_order(conn, order_id, for_update=True)
            if order is None:
                return ReservationRead(order_id=order_id, status="released")
            status = order["status"]
            if status == "committed":
                raise CodedError(409, ErrorCode.RESERVATION_COMMITTED,
                                 f"Reservation {order_id} was committed (shipped)")
            if status != "reserved":  # released, expired or out_of_stock: nothing is held
                return ReservationRead(order_id=order_id, status=status)
            changed = await self._unhold(conn, order_id, "released")
            await self._record(conn, changed)
        await self._publish(changed)
        return ReservationRead(order_id=order_id, status="released")

    async def confirm(self, order_id: uuid.UUID) -> ReservationRead:
        """The order is paid: hold its units until commit or release (no expiry)."""
        if await repository.confirm_reserved(self.pool, order_id):  # the usual case
            return ReservationRead(order_id=order_id, status="reserved")
        changed: list[asyncpg.Record] = []
        async with self.pool.acquire() as conn, conn.transaction():
            order = await self._locked_order(conn, order_id)
            status = order["status"]
            if status == "committed" or (status == "reserved" and order["confirmed_at"]):
                return ReservationRead(order_id=order_id, status=status)
            if status in ("released", "out_of_stock"):
                raise CodedError(409, ErrorCode(f"reservation_{status}"),
                                 f"Reservation {order_id} is {status} and cannot be confirmed")
            if status == "expired":  # paid after the hold lapsed: hold again if still there
                lines = await repository.get_lines(conn, order_id)
                changed = await self._apply_all(conn, lines, repository.add_reserved)
            await repository.set_status(conn, order_id, "reserved", confirm=True)
            await self._record(conn, changed)
        await self._publish(changed)
        return ReservationRead(order_id=order_id, status="reserved")

    async def expire_due(self, limit: int = 100) -> int:
        """Release the holds of unconfirmed orders past their expiry; returns how many."""
        expired = 0
        for order_id in await repository.expired_orders(self.pool, limit):
            async with self.pool.acquire() as conn, conn.transaction():
                if not await repository.lock_expired_order(conn, order_id):
                    continue  # confirmed, committed or released meanwhile, or being changed
                changed = await self._unhold(conn, order_id, "expired")
                await self._record(conn, changed)
            expired += 1
            log.info("reservation_expired", order_id=str(order_id))
            await self._publish(changed)
        return expired

    async def _unhold(self, conn: asyncpg.Connection, order_id: uuid.UUID,
                      status: str) -> list[asyncpg.Record]:
        lines = await repository.get_lines(conn, order_id)
        await repository.lock_stock(conn, [r["product_id"] for r in lines])
        changed = []
        for line in lines:
            row = await repository.remove_reserved(conn, line["product_id"], line["quantity"])
            if row is None:
                raise RuntimeError(f"stock of {line['product_id']} holds less than order "
                                   f"{order_id} reserved")
            changed.append(row)
        await repository.set_status(conn, order_id, status)
        return changed

    @staticmethod
    async def _apply_all(conn: asyncpg.Connection, lines: Sequence[asyncpg.Record],
                         update: Callable[[asyncpg.Connection, uuid.UUID, int],
                                          Awaitable[asyncpg.Record | None]],
                         ) -> list[asyncpg.Record]:
        """Lock the lines' stock rows, then apply a guarded update to each: all or none
        (OutOfStock, naming every line that failed, rolls the caller's transaction back)."""
        await repository.lock_stock(conn, [r["product_id"] for r in lines])
        changed: list[asyncpg.Record] = []
        unavailable: list[uuid.UUID] = []
        for line in lines:
            row = await update(conn, line["product_id"], line["quantity"])
            if row is None:
                unavailable.append(line["product_id"])
            else:
                changed.append(row)
        if unavailable:
            raise OutOfStock(unavailable)
        return changed

    @staticmethod
    async def _locked_order(conn: asyncpg.Connection, order_id: uuid.UUID) -> asyncpg.Record:
        order = await repository.get_order(conn, order_id, for_update=True)
        if order is None:
            raise NotFound(f"No reservation for order {order_id}")
        return order

    # -- stock --------------------------------------------------------------------------------
    async def get_stock(self, product_id: uuid.UUID) -> StockRead:
        row = await repository.get_stock(self.pool, product_id)
        if row is None:
            raise NotFound(f"No stock record for product {product_id}")
        return stock_read(row)

    async def set_stock(self, product_id: uuid.UUID, on_hand: int, *,
                        create: bool = True) -> StockRead:
        """Set on_hand (upsert); 409 when it would drop below the reserved units."""
        async with self.pool.acquire() as conn, conn.transaction():
            row, changed = await repository.set_on_hand(conn, product_id, on_hand, create=create)
            if row is None:
                current = await repository.get_stock(conn, product_id)
                if current is None:
                    raise NotFound(f"No stock record for product {product_id}")
                raise CodedError(409, ErrorCode.BELOW_RESERVED,
                                 f"on_hand cannot go below the {current['reserved']} units "
                                 "reserved for open orders", reserved=current["reserved"])
            if changed:
                await self._record(conn, [row])
        if changed:
            await self._publish([row])
        return stock_read(row)

    # -- events -------------------------------------------------------------------------------
    @staticmethod
    async def _record(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> None:
        """Write stock.changed for each changed row to the outbox, in the caller's transaction."""
        await OUTBOX.add_many(conn, [
            (row["product_id"], EventType.STOCK_CHANGED, StockChanged(
                product_id=row["product_id"], on_hand=row["on_hand"], reserved=row["reserved"],
                available=row["on_hand"] - row["reserved"], version=row["version"]))
            for row in rows])

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> None:
        """Publish what the committed transaction wrote to the outbox. A failure is logged, not
        raised: the change is committed and the outbox drainer publishes it later."""
        if not rows:
            return
        await OUTBOX.publish_committed(self.pool, self.sidecar)
