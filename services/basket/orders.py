"""The call a checkout makes: `POST /api/orders` of the orders service, through Dapr, as the
signed-in shopper (the identity the gateway verified) and with an Idempotency-Key derived
from the shopper and the checkout key, so every retry of one checkout names one order.

The request and the order are the orders service's own types (services/common/contracts/
orders.py); orders validates and prices the request exactly as for a client's POST
/api/orders.
"""

from __future__ import annotations

import uuid

import msgspec
import structlog

from services.basket.schemas import CheckoutRequest, StoredLine
from services.common.auth import Identity
from services.common.contracts.orders import ORDERS_PATH, OrderCreate, OrderLineCreate, OrderRead
from services.common.dapr import Sidecar
from services.common.errors import Unavailable
from services.common.names import ORDERS

log = structlog.get_logger(__name__)

TIMEOUT = 30.0


class OrdersRefused(Exception):
    """orders answered 4xx: its problem+json goes back to the shopper as it is."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"orders answered {status}")
        self.status = status
        self.body = body


_order = msgspec.json.Decoder(OrderRead)


def _decode(content: bytes) -> OrderRead:
    try:
        return _order.decode(content)
    except msgspec.ValidationError as exc:
        log.error("order_answer_unreadable", error=str(exc))
        raise Unavailable("The orders service answered with an order this service cannot "
                          "read") from exc


async def place(sidecar: Sidecar, identity: Identity, lines: list[StoredLine],
                body: CheckoutRequest, idempotency_key: str) -> tuple[OrderRead, bool]:
    """Create the order (or find the one this key made): (order, created)."""
    request = OrderCreate(
        items=[OrderLineCreate(product_id=ln.product_id, quantity=ln.quantity) for ln in lines],
        shipping_address=body.shipping_address, payment_method=body.payment_method)
    r = await sidecar.invoke(ORDERS, "POST", ORDERS_PATH, json=request, timeout=TIMEOUT,
                             headers={**identity.as_headers(),
                                      "idempotency-key": idempotency_key})
    if r.status_code in (200, 201):
        return _decode(r.content), r.status_code == 201
    if 400 <= r.status_code < 500:
        raise OrdersRefused(r.status_code, r.content)
    log.warning("order_not_placed", status=r.status_code, body=r.text[:300])
    raise Unavailable("The order could not be placed right now; retry with the same "
                      "Idempotency-Key")


async def read(sidecar: Sidecar, identity: Identity, order_id: uuid.UUID) -> OrderRead:
    r = await sidecar.invoke(ORDERS, "GET", f"{ORDERS_PATH}/{order_id}", timeout=TIMEOUT,
                             headers=identity.as_headers())
    if r.status_code == 200:
        return _decode(r.content)
    if 400 <= r.status_code < 500:
        raise OrdersRefused(r.status_code, r.content)
    raise Unavailable("The order cannot be read right now; try again")
