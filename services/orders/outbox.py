"""The outbox of order events (see services/common/outbox.py).

A status change and the event announcing it are written in one transaction
(services.orders.service.transition). The activity that made the change publishes that
order's events right after the commit; the drainer is the safety net for rows left behind
by a crash between the commit and the publish. Consumers are idempotent by (order_id, type).
"""

from __future__ import annotations

import uuid

import asyncpg

from services.common.dapr import Sidecar
from services.common.names import TOPIC_ORDERS
from services.common.outbox import Drainer, Outbox

OUTBOX = Outbox("order_outbox", TOPIC_ORDERS, key_column="order_id")


async def flush(pool: asyncpg.Pool, sidecar: Sidecar, *, order_id: uuid.UUID | None = None) -> int:
    """Publish the unpublished events of one order (or of all), oldest first."""
    return await OUTBOX.flush(pool, sidecar, key=order_id)


def drainer(pool: asyncpg.Pool, sidecar: Sidecar) -> Drainer:
    return Drainer(OUTBOX, pool, sidecar, interval_s=2.0, min_age_s=1.0)
