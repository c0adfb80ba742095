"""HTTP routes of the inventory service: public stock reads, admin stock writes, and the
internal reservation and stock API that only orders (and products, for stock) may call."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post, put
from litestar.di import Provide

from services.common.app import provide_service
from services.common.auth import Identity, provide_admin
from services.common.contracts import internal
from services.common.contracts.internal import ReservationCreate, ReservationRead
from services.common.internal import CODED_ERROR_HANDLERS, InternalController, require_caller
from services.common.names import ORDERS, PRODUCTS
from services.common.openapi import link
from services.inventory.schemas import StockRead, StockUpdate
from services.inventory.service import InventoryService


class InventoryController(Controller):
    """`/api/inventory` (through the gateway): stock levels; admins set them."""

    path = "/api/inventory"
    tags = ["inventory"]
    exception_handlers = CODED_ERROR_HANDLERS

    @get("/{product_id:uuid}")
    async def read_stock(self, product_id: uuid.UUID, service: InventoryService) -> StockRead:
        """Stock of one product: on_hand, reserved and available (404 if it has none)."""
        return await service.get_stock(product_id)

    @put("/{product_id:uuid}", dependencies={"admin": Provide(provide_admin)}, links={
        "GetStock": link("GET", "/api/inventory/{product_id}", "Read it back",
                         product_id="$request.path.product_id")})
    async def set_stock(self, product_id: uuid.UUID, data: StockUpdate,
                        service: InventoryService, admin: Identity) -> StockRead:
        """Admin: set on_hand (409 below the units reserved for open orders)."""
        return await service.set_stock(product_id, data.on_hand)


class ReservationController(InternalController):
    """`/internal/reservations` (Dapr invocation from orders only)."""

    path = "/" + internal.RESERVATIONS
    guards = [require_caller(ORDERS)]

    @post("/", status_code=200)
    async def reserve(self, data: ReservationCreate,
                      service: InventoryService) -> ReservationRead:
        """Hold every line of the order, or none (409 `out_of_stock` with `unavailable`)."""
        return await service.reserve(data)

    @post("/{order_id:uuid}/commit", status_code=200)
    async def commit(self, order_id: uuid.UUID, service: InventoryService) -> ReservationRead:
        """Shipment: the held units leave on_hand. Idempotent."""
        return await service.commit(order_id)

    @post("/{order_id:uuid}/release", status_code=200)
    async def release(self, order_id: uuid.UUID, service: InventoryService) -> ReservationRead:
        """Cancellation: the held units become available. Idempotent; unknown is a no-op."""
        return await service.release(order_id)

    @post("/{order_id:uuid}/confirm", status_code=200)
    async def confirm(self, order_id: uuid.UUID, service: InventoryService) -> ReservationRead:
        """The order is paid: hold its units until commit or release instead of expiring."""
        return await service.confirm(order_id)


class StockController(InternalController):
    """`/internal/stock` (Dapr invocation from products, and orders)."""

    path = "/" + internal.STOCK
    guards = [require_caller(ORDERS, PRODUCTS)]

    @put("/{product_id:uuid}")
    async def upsert_stock(self, product_id: uuid.UUID, data: StockUpdate,
                           service: InventoryService) -> StockRead:
        """Create or set a product's on_hand (products calls it for a new product's stock)."""
        return await service.set_stock(product_id, data.on_hand)


ROUTES: list[Any] = [InventoryController, ReservationController, StockController]
DEPENDENCIES = {"service": provide_service(InventoryService)}
