"""HTTP routes of the orders service (public under /api/orders, reached through the gateway)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Controller, Response, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from services.common.app import provide_service
from services.common.auth import Identity, provide_identity
from services.common.contracts.orders import ORDERS_PATH
from services.common.errors import InvalidInput
from services.common.openapi import link
from services.orders.schemas import OrderCreate, OrderPage, OrderRead, OrderStatusUpdate, Status
from services.orders.service import OrdersService
from services.orders.status_requests import Shipment

IdempotencyKey = Annotated[
    str | None,
    Parameter(header="Idempotency-Key", required=False, min_length=1, max_length=200,
              pattern=r"^[\x21-\x7e]+$",
              description="Makes a retried POST return the order the first attempt created."),
]


class OrderController(Controller):
    path = "/" + ORDERS_PATH
    tags = ["orders"]
    dependencies = {"identity": Provide(provide_identity),
                    "service": provide_service(OrdersService)}

    @post("/", status_code=201, links={
        "GetOrder": link("GET", "/api/orders/{order_id}", "Read it",
                         order_id="$response.body#/id"),
        "ChangeStatus": link("PATCH", "/api/orders/{order_id}/status",
                             "Cancel it (the owner) or move it on (admins)",
                             order_id="$response.body#/id")})
    async def create(self, data: OrderCreate, identity: Identity, service: OrdersService,
                     idempotency_key: IdempotencyKey = None) -> Response[OrderRead]:
        """Place an order. Prices and totals come from the catalog, never from the client.

        Answers 201 with the order (status `pending`; the checkout workflow then reserves,
        charges and confirms it). A retry with the same Idempotency-Key answers 200 with the
        same order; the same key with a different body is a 422.
        """
        created = await service.create(identity, data, idempotency_key)
        if not created.replayed:
            await service.publish_created()
        headers = {"location": f"/api/orders/{created.order.id}"}
        return Response(created.order, status_code=200 if created.replayed else 201,
                        headers=headers)

    @get("/")
    async def list_orders(self, identity: Identity, service: OrdersService,
                          page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
                          page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
                          status: Status | None = None,
                          from_: Annotated[date | None, Parameter(
                              query="from", description="Placed on or after (UTC day)")] = None,
                          to: Annotated[date | None, Parameter(
                              description="Placed on or before (UTC day)")] = None,
                          user_id: Annotated[uuid.UUID | None, Parameter(
                              description="Admins: one customer's orders")] = None,
                          ) -> OrderPage:
        """The caller's orders, newest first (admins: everyone's, or one customer's)."""
        since = datetime.combine(from_, time.min, UTC) if from_ else None
        until = datetime.combine(to + timedelta(days=1), time.min, UTC) if to else None
        return await service.list_orders(identity, page=page, page_size=page_size,
                                          status=status, since=since, until=until,
                                          user_id=user_id)

    @get("/{order_id:uuid}")
    async def read(self, order_id: uuid.UUID, identity: Identity,
                   service: OrdersService) -> OrderRead:
        """One order, to its owner or an admin; 404 for anyone else."""
        return await service.read(order_id, identity)

    @patch("/{order_id:uuid}/status",
           conflict="The order cannot move to that status from the one it is in")
    async def change_status(self, order_id: uuid.UUID, data: OrderStatusUpdate,
                            identity: Identity, service: OrdersService) -> Response[OrderRead]:
        """Ask for a status change: admins ship and deliver; the owner (or an admin) cancels
        a pending or processing order. Anything else is a 409.

        The change is raised as an event into the order's workflow, which applies it (and
        refunds and releases stock on a cancel). The answer waits a few seconds for that:
        200 with the new status once applied, 202 with the current order if still applying.
        """
        shipment = None
        if data.carrier is not None or data.tracking_number is not None:
            if data.status != "shipped":
                raise InvalidInput("carrier and tracking_number go only with status shipped",
                                   errors=[{"field": "carrier",
                                            "message": "only with status shipped"}])
            shipment = Shipment(carrier=data.carrier, tracking_number=data.tracking_number)
        order, applied = await service.request_status(identity, order_id, data.status,
                                                      shipment)
        return Response(order, status_code=200 if applied else 202)


ROUTES: list[Any] = [OrderController]
