"""The order's status lifecycle: which status follows which, who may ask for what, and the
one guarded write that moves an order and announces it (`order.*` events).

The order workflow (services.orders.checkout) is the only writer of an order's status, and
it writes through `transition`; the HTTP use cases only read these rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.contracts.events import EventType, OrderEvent, OrderLine
from services.common.errors import Conflict, Forbidden, NotFound
from services.orders import repository, status_requests
from services.orders.outbox import OUTBOX

EVENT_FOR_STATUS: dict[str, EventType] = {
    "pending": EventType.ORDER_CREATED,
    "processing": EventType.ORDER_CONFIRMED,
    "shipped": EventType.ORDER_SHIPPED,
    "delivered": EventType.ORDER_DELIVERED,
    "cancelled": EventType.ORDER_CANCELLED,
}
# Which statuses each status can still lead to (the lifecycle is acyclic).
REACHABLE: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "shipped", "delivered", "cancelled"}),
    "processing": frozenset({"shipped", "delivered", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}


def can_request(current: str, target: str, *, is_admin: bool) -> None:
    """Who may ask for which status: raises Forbidden (403) or Conflict (409)."""
    if target == "cancelled":
        if current not in ("pending", "processing"):
            raise Conflict(f"An order that is {current} can no longer be cancelled")
        return
    if target in ("shipped", "delivered"):
        if not is_admin:
            raise Forbidden("Only an admin can mark an order shipped or delivered")
        needed = "processing" if target == "shipped" else "shipped"
        if current != needed:
            raise Conflict(f"An order that is {current} cannot become {target}")
        return
    raise Conflict(f"An order cannot be moved to {target} by request")


def event_payload(order: Mapping[str, Any], items: Sequence[Mapping[str, Any]],
                  *, status: str, reason: str | None, at: datetime) -> OrderEvent:
    """The payload of the `order.*` event announcing `order` in `status`."""
    return OrderEvent(
        order_id=order["id"], user_id=order["user_id"], user_email=order["user_email"],
        status=status, total=order["total"], currency=order["currency"],
        items=[OrderLine(product_id=i["product_id"], name=i["name"], quantity=i["quantity"],
                         unit_price=i["unit_price"], line_total=i["line_total"])
               for i in items],
        occurred_at=at, reason=reason or None, carrier=order.get("carrier"),
        tracking_number=order.get("tracking_number"))


@dataclass(frozen=True)
class Transition:
    applied: bool  # False when the order was not in an expected status
    status: str  # the status after the call


async def transition(pool: asyncpg.Pool, order_id: uuid.UUID, to: str, expected: list[str],
                     reason: str | None) -> Transition:
    """Guarded status change with its history row and outbox event, in one transaction.

    Safe to run twice: the second run finds the status already applied and changes nothing.
    """
    at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        # Who asked (the audit actor) and a shipment's carrier and tracking number.
        await status_requests.apply(conn, order_id, to, reason)
        row = await repository.update_status(conn, order_id, to, expected, reason, at)
        if row is None:
            current = await repository.get_status(conn, order_id)
            if current is None:
                raise NotFound(f"No order {order_id}")
            return Transition(applied=current == to, status=current)
        await repository.add_history(conn, order_id, to, reason, at)
        items = await repository.get_items(conn, [order_id])
        await OUTBOX.add(conn, EVENT_FOR_STATUS[to],
                         event_payload(row, items, status=to, reason=reason, at=at),
                         key=order_id)
    return Transition(applied=True, status=to)
