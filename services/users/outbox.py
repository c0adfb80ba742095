"""The transactional outbox of users events.

`user.registered` is written with the new account in one transaction, so neither exists
without the other. The registering request publishes it right after the commit; a
background drainer publishes whatever a crash or a pub/sub outage left behind. Rows are
claimed with `FOR UPDATE SKIP LOCKED`; delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import msgspec
import structlog

from services.common import events
from services.common.dapr import Sidecar
from services.common.names import TOPIC_USERS
from services.users import repository

log = structlog.get_logger(__name__)

DRAIN_INTERVAL_S = 5.0
# The drainer leaves fresh rows to the request that wrote them.
DRAIN_MIN_AGE_S = 2.0
BATCH = 100


async def flush(pool: asyncpg.Pool, sidecar: Sidecar, *, min_age_s: float = 0.0) -> int:
    """Publish pending events, oldest first; returns how many were published."""
    published: list[int] = []
    async with pool.acquire() as conn, conn.transaction():
        for row in await repository.claim_outbox(conn, min_age_s=min_age_s, limit=BATCH):
            payload: dict[str, Any] = msgspec.json.decode(row["payload"])
            try:
                await events.publish(sidecar, TOPIC_USERS, row["event_type"], payload)
            except Exception as exc:
                log.warning("outbox_publish_failed", outbox_id=row["id"],
                            event_type=row["event_type"], error=type(exc).__name__)
                await repository.mark_attempt_failed(conn, row["id"])
                break
            published.append(row["id"])
        await repository.mark_published(conn, published)
    return len(published)


class Drainer:
    """Background task that publishes what the inline publishers left behind."""

    def __init__(self, pool: asyncpg.Pool, sidecar: Sidecar) -> None:
        self._pool = pool
        self._sidecar = sidecar
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="users-outbox-drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_INTERVAL_S)
            try:
                while await flush(self._pool, self._sidecar, min_age_s=DRAIN_MIN_AGE_S) == BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_drain_failed", error=type(exc).__name__)
