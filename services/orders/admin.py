"""Admin-only routes of the orders service: the sales figures and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import get
from litestar.di import Provide
from litestar.params import Parameter

from services.common import audit
from services.common.auth import Identity, provide_admin
from services.common.names import ORDERS
from services.orders import stats

ADMIN = {"admin": Provide(provide_admin)}


@get("/api/orders/stats", dependencies=ADMIN, tags=["orders"])
async def order_stats(
    db: asyncpg.Pool, admin: Identity,
    from_: Annotated[str | None, Parameter(
        query="from", schema_extra={"format": "date"},
        description="First day (YYYY-MM-DD, UTC); at most 366 days before `to`")] = None,
    to: Annotated[str | None, Parameter(
        schema_extra={"format": "date"},
        description="Last day, included (default today)")] = None,
) -> stats.OrderStats:
    """Admin: orders and revenue per day, orders by status and cancellation reasons over a
    period (default: the last 30 days)."""
    start, end = stats.period(from_, to)
    return await stats.order_stats(db, start, end)


ROUTES: list[Any] = [order_stats, audit.audit_route(ORDERS)]
