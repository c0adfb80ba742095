"""The transactional outbox of order events.

A status change and the event announcing it are written in one transaction
(services.orders.service.transition), so neither exists without the other. Publishing
happens after the commit: right away by whoever made the change (`flush(order_id=...)`), and
as a safety net by a background drainer for rows left behind by a crash between the commit
and the publish. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two publishers never send
the same row at the same time; delivery is at least once (a crash after the publish and
before the row is marked sends it again), and consumers are idempotent by (order_id, type).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import msgspec
import structlog

from services.common import events
from services.common.dapr import Sidecar
from services.common.names import TOPIC_ORDERS
from services.orders import repository

log = structlog.get_logger(__name__)

DRAIN_INTERVAL_S = 2.0
# The drainer leaves fresh rows to the publisher that wrote them.
DRAIN_MIN_AGE_S = 1.0


async def flush(pool: asyncpg.Pool, sidecar: Sidecar, *, order_id: uuid.UUID | None = None,
                min_age_s: float = 0.0, limit: int = 100) -> int:
    """Publish unpublished events (of one order, or all), oldest first; returns how many."""
    published: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        rows = await repository.claim_outbox(conn, order_id=order_id, min_age_s=min_age_s,
                                             limit=limit)
        for row in rows:
            payload: dict[str, Any] = msgspec.json.decode(row["payload"])
            try:
                await events.publish(sidecar, TOPIC_ORDERS, row["event_type"], payload)
            except Exception as exc:
                # Stop at the first failure: later events of the same order must not overtake it.
                log.warning("outbox_publish_failed", outbox_id=row["id"],
                            event_type=row["event_type"], error=str(exc))
                await repository.mark_attempt_failed(conn, row["id"])
                break
            published.append(row["id"])
        await repository.mark_published(conn, published)
    return len(published)


class Drainer:
    """Background task publishing what the inline publishers left behind."""

    def __init__(self, pool: asyncpg.Pool, sidecar: Sidecar) -> None:
        self._pool = pool
        self._sidecar = sidecar
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="orders-outbox-drainer")

    def kick(self) -> None:
        """Drain soon (used after writing an event outside a workflow activity)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), DRAIN_INTERVAL_S)
            kicked = self._wake.is_set()
            self._wake.clear()
            try:
                while await flush(self._pool, self._sidecar,
                                  min_age_s=0.0 if kicked else DRAIN_MIN_AGE_S) == 100:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_drain_failed", error=str(exc))
