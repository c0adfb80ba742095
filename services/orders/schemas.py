"""What clients send to the orders service and what it answers (msgspec DTOs).

The order itself and the request that places one are contracts other services use too
(the basket checks out through POST /api/orders), so they are written once in
services/common/contracts/orders.py and re-exported here. Inputs reject unknown fields: a
client can never set a price, a total, a status or an owner (sending `price` or `total` is
a 400, not silently ignored).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.common.contracts.orders import (
    MAX_LINES,
    MAX_QUANTITY,
    OrderCreate,
    OrderItemRead,
    OrderLineCreate,
    OrderRead,
    ShippingAddress,
    Status,
    StatusEntry,
)

__all__ = [
    "FINAL_STATUSES",
    "MAX_LINES",
    "MAX_QUANTITY",
    "OrderCreate",
    "OrderItemRead",
    "OrderLineCreate",
    "OrderPage",
    "OrderRead",
    "OrderStatusUpdate",
    "ShipmentText",
    "ShippingAddress",
    "Status",
    "StatusEntry",
]

FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "cancelled"})

# A carrier's name or a tracking number: one line of printable text.
ShipmentText = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                           pattern=r"^[^\x00-\x1f\x7f]+$")]


class OrderStatusUpdate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Body of PATCH /api/orders/{id}/status; `carrier` and `tracking_number` (optional)
    only with `shipped`: the shopper then sees them, and the shipping e-mail carries them."""

    status: Status
    carrier: ShipmentText | None = None
    tracking_number: ShipmentText | None = None


class OrderPage(msgspec.Struct, frozen=True):
    items: list[OrderRead]
    total: int
    page: int
    page_size: int
