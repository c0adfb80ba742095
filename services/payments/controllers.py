"""HTTP routes of the payments service: internal only, callable by orders alone."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import Provide

from services.common.contracts import internal
from services.common.internal import CODED_ERROR_HANDLERS, require_caller
from services.common.names import ORDERS
from services.payments.schemas import ChargeCreate, ChargeRead, RefundCreate, RefundRead
from services.payments.service import PaymentsService


def provide_service(state: State) -> PaymentsService:
    service: PaymentsService = state.service
    return service


class ChargeController(Controller):
    """`/internal/charges` (Dapr invocation from orders only)."""

    path = "/" + internal.CHARGES
    guards = [require_caller(ORDERS)]
    exception_handlers = CODED_ERROR_HANDLERS
    include_in_schema = False

    @post("/", status_code=200)
    async def create_charge(self, data: ChargeCreate, service: PaymentsService) -> ChargeRead:
        """Charge once per idempotency_key; a repeat returns the first result (a decline is
        a 200 with status `declined`; the same key with another body is a 422)."""
        return await service.charge(data)

    @get("/{charge_id:uuid}")
    async def read_charge(self, charge_id: uuid.UUID, service: PaymentsService) -> ChargeRead:
        return await service.get_charge(charge_id)


class RefundController(Controller):
    """`/internal/refunds` (Dapr invocation from orders only)."""

    path = "/" + internal.REFUNDS
    guards = [require_caller(ORDERS)]
    exception_handlers = CODED_ERROR_HANDLERS
    include_in_schema = False

    @post("/", status_code=200)
    async def create_refund(self, data: RefundCreate, service: PaymentsService) -> RefundRead:
        """Refund once per idempotency_key; 409 for a declined charge or more than was
        charged."""
        return await service.refund(data)


ROUTES: list[Any] = [ChargeController, RefundController]
DEPENDENCIES = {"service": Provide(provide_service, sync_to_thread=False)}
