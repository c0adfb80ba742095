"""The outbox of catalog events (see services/common/outbox.py).

`product.created`, `product.updated` and `product.deleted` are written in the transaction
that inserts, changes or soft-deletes the product (services.products.service.Catalog), so
an event exists exactly when the change does. The admin request publishes its product's
events right after the commit; the drainer publishes what a crash or a pub/sub outage left
behind.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.common.dapr import Sidecar
from services.common.names import TOPIC_PRODUCTS
from services.common.outbox import Drainer, Outbox

OUTBOX = Outbox("product_outbox", TOPIC_PRODUCTS, key_column="product_id")


async def flush(pool: asyncpg.Pool, sidecar: Sidecar, *,
                product_id: uuid.UUID | None = None) -> int:
    """Publish the unpublished events of one product (or of all), oldest first."""
    return await OUTBOX.flush(pool, sidecar, key=product_id)


def drainer(pool: asyncpg.Pool, sidecar: Sidecar) -> Drainer:
    return Drainer(OUTBOX, pool, sidecar, interval_s=5.0, min_age_s=2.0)
