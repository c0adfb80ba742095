"""HTTP routes of the payments service: internal only, callable by orders alone."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Router, get, post
from litestar.datastructures import State
from litestar.di import Provide

from services.common.internal import CODED_ERROR_HANDLERS, require_caller
from services.common.names import ORDERS
from services.payments.schemas import ChargeCreate, ChargeRead, RefundCreate, RefundRead
from services.payments.service import Payments


def provide_payments(state: State) -> Payments:
    payments: Payments = state.payments
    return payments


@post("/charges", status_code=200)
async def create_charge(data: ChargeCreate, payments: Payments) -> ChargeRead:
    """Charge once per idempotency_key; a repeat returns the first result (a decline is a
    200 with status `declined`; the same key with another body is a 422)."""
    return await payments.charge(data)


@get("/charges/{charge_id:uuid}")
async def read_charge(charge_id: uuid.UUID, payments: Payments) -> ChargeRead:
    return await payments.get_charge(charge_id)


@post("/refunds", status_code=200)
async def create_refund(data: RefundCreate, payments: Payments) -> RefundRead:
    """Refund once per idempotency_key; 409 for a declined charge or more than was charged."""
    return await payments.refund(data)


ROUTES: list[Any] = [
    Router(path="/internal", route_handlers=[create_charge, read_charge, create_refund],
           dependencies={"payments": Provide(provide_payments, sync_to_thread=False)},
           guards=[require_caller(ORDERS)], exception_handlers=CODED_ERROR_HANDLERS,
           include_in_schema=False),
]
