"""HTTP routes of the payments service: internal only, callable by orders alone."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import get, post

from services.common.app import provide_service
from services.common.contracts import internal
from services.common.internal import InternalController, require_caller
from services.common.names import ORDERS
from services.payments.schemas import ChargeCreate, ChargeRead, RefundCreate, RefundRead
from services.payments.service import PaymentsService


class ChargeController(InternalController):
    """`/internal/charges` (Dapr invocation from orders only)."""

    path = "/" + internal.CHARGES
    guards = [require_caller(ORDERS)]

    @post("/", status_code=200)
    async def create_charge(self, data: ChargeCreate, service: PaymentsService) -> ChargeRead:
        """Charge once per idempotency_key; a repeat returns the first result (a decline is
        a 200 with status `declined`; the same key with another body is a 422)."""
        return await service.charge(data)

    @get("/{charge_id:uuid}")
    async def read_charge(self, charge_id: uuid.UUID, service: PaymentsService) -> ChargeRead:
        return await service.get_charge(charge_id)


class RefundController(InternalController):
    """`/internal/refunds` (Dapr invocation from orders only)."""

    path = "/" + internal.REFUNDS
    guards = [require_caller(ORDERS)]

    @post("/", status_code=200)
    async def create_refund(self, data: RefundCreate, service: PaymentsService) -> RefundRead:
        """Refund once per idempotency_key; 409 for a declined charge or more than was
        charged."""
        return await service.refund(data)


ROUTES: list[Any] = [ChargeController, RefundController]
DEPENDENCIES = {"service": provide_service(PaymentsService)}
