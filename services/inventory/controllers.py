"""HTTP routes of the inventory service: public stock reads, admin stock writes, and the
internal reservation API that only orders (and products, for stock) may call."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Router, get, post, put
from litestar.datastructures import State
from litestar.di import Provide

from services.common.auth import Identity, provide_admin
from services.common.contracts.internal import ReservationCreate, ReservationRead
from services.common.internal import CODED_ERROR_HANDLERS, require_caller
from services.common.names import ORDERS, PRODUCTS
from services.inventory.schemas import StockRead, StockUpdate
from services.inventory.service import Inventory


def provide_inventory(state: State) -> Inventory:
    inventory: Inventory = state.inventory
    return inventory


# -- public (through the gateway) --------------------------------------------------------------
@get("/{product_id:uuid}")
async def read_stock(product_id: uuid.UUID, inventory: Inventory) -> StockRead:
    """Stock of one product: on_hand, reserved and available (404 if it has none)."""
    return await inventory.get_stock(product_id)


@put("/{product_id:uuid}", dependencies={"admin": Provide(provide_admin)})
async def set_stock(product_id: uuid.UUID, data: StockUpdate, inventory: Inventory,
                    admin: Identity) -> StockRead:
    """Admin: set on_hand (409 below the units reserved for open orders)."""
    return await inventory.set_stock(product_id, data.on_hand)


# -- internal (Dapr invocation from orders / products only) -------------------------------------
only_orders = require_caller(ORDERS)


@post("/reservations", status_code=200, guards=[only_orders])
async def reserve(data: ReservationCreate, inventory: Inventory) -> ReservationRead:
    """Hold every line of the order, or none (409 `out_of_stock` with `unavailable`)."""
    return await inventory.reserve(data)


@post("/reservations/{order_id:uuid}/commit", status_code=200, guards=[only_orders])
async def commit(order_id: uuid.UUID, inventory: Inventory) -> ReservationRead:
    """Shipment: the held units leave on_hand. Idempotent."""
    return await inventory.commit(order_id)


@post("/reservations/{order_id:uuid}/release", status_code=200, guards=[only_orders])
async def release(order_id: uuid.UUID, inventory: Inventory) -> ReservationRead:
    """Cancellation: the held units become available. Idempotent; unknown order is a no-op."""
    return await inventory.release(order_id)


@post("/reservations/{order_id:uuid}/confirm", status_code=200, guards=[only_orders])
async def confirm(order_id: uuid.UUID, inventory: Inventory) -> ReservationRead:
    """The order is paid: hold its units until commit or release instead of expiring them."""
    return await inventory.confirm(order_id)


@put("/stock/{product_id:uuid}")
async def upsert_stock(product_id: uuid.UUID, data: StockUpdate, inventory: Inventory) -> StockRead:
    """Create or set a product's on_hand (products calls it for a new product's stock)."""
    return await inventory.set_stock(product_id, data.on_hand)


_deps = {"inventory": Provide(provide_inventory, sync_to_thread=False)}

ROUTES: list[Any] = [
    Router(path="/api/inventory", route_handlers=[read_stock, set_stock], dependencies=_deps,
           exception_handlers=CODED_ERROR_HANDLERS),
    Router(path="/internal", route_handlers=[reserve, commit, release, confirm, upsert_stock],
           dependencies=_deps, guards=[require_caller(ORDERS, PRODUCTS)],
           exception_handlers=CODED_ERROR_HANDLERS, include_in_schema=False),
]
