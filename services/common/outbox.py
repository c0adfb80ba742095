"""A transactional outbox: events written in the same transaction as the change they
announce, published after the commit.

The change's transaction writes its events with `Outbox.add` / `add_many` (which also store
the trace context); whoever made the change calls `Outbox.publish_committed` right after the
commit. In a service app that hands the rows to the app's `Drainer` (which
`build_app(outbox=...)` runs): one relay per process, woken at once, that publishes every
committed row in id order and marks them published in one transaction per batch. Under load
the commits of many requests share one claim and one mark instead of a transaction each.
Without a running drainer (a script, a test), `publish_committed` publishes inline. The
drainer also publishes, every 2 s, whatever a crash or a pub/sub outage left behind.

Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two publishers never send one row at the
same time. Delivery is at least once (a crash after the publish and before the row is marked
sends it again), so consumers are idempotent. A service's table needs the columns
`id bigserial, <key column>, event_type, payload jsonb, trace jsonb, attempts, created_at,
published_at`; `trace` (services.common.telemetry.trace_json) carries the trace context of
the change to its publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec
import structlog

from services.common import events, telemetry
from services.common.contracts.events import EventType
from services.common.dapr import Sidecar

log = structlog.get_logger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def encode_payload(payload: msgspec.Struct) -> str:
    """An event payload as the JSON text an outbox row stores."""
    return msgspec.json.encode(payload).decode()


class Outbox:
    """The outbox table of one service and the topic its events go to."""

    def __init__(self, table: str, topic: str, key_column: str | None = None,
                 batch: int = 100) -> None:
        for name in (table, key_column or "id"):
            if not _IDENTIFIER.match(name):  # identifiers are code constants, never input
                raise ValueError(f"not an SQL identifier: {name!r}")
        self.table, self.topic, self.key_column, self.batch = table, topic, key_column, batch
        self.relay: Drainer | None = None  # set while a Drainer runs for this outbox

    async def add(self, conn: asyncpg.Connection, event_type: EventType,
                  payload: msgspec.Struct, *, key: Any = None) -> None:
        """Write one event in the caller's transaction (see add_many)."""
        await self.add_many(conn, [(key, event_type, payload)])

    async def add_many(self, conn: asyncpg.Connection,
                       events: Sequence[tuple[Any, EventType, msgspec.Struct]]) -> None:
        """Write (key, event type, payload) events in the caller's transaction, with the
        current trace context. An event the table already holds (a unique key such as
        orders' one event per order and type) is left as it is, so a re-run adds nothing.
        The payload is the event's type from services.common.contracts.events."""
        if not events:
            return
        trace = telemetry.trace_json()
        rows: list[tuple[Any, ...]]
        if self.key_column:
            sql = (f"INSERT INTO {self.table} ({self.key_column}, event_type, payload, trace)"  # noqa: S608
                   " VALUES ($1, $2, $3::jsonb, $4::jsonb) ON CONFLICT DO NOTHING")
            rows = [(key, str(event_type), encode_payload(payload), trace)
                    for key, event_type, payload in events]
        else:
            sql = (f"INSERT INTO {self.table} (event_type, payload, trace)"  # noqa: S608
                   " VALUES ($1, $2::jsonb, $3::jsonb) ON CONFLICT DO NOTHING")
            rows = [(str(event_type), encode_payload(payload), trace)
                    for _, event_type, payload in events]
        await conn.executemany(sql, rows)

    async def flush(self, pool: asyncpg.Pool, sidecar: Sidecar, *, key: Any = None,
                    min_age_s: float = 0.0) -> int:
        """Publish unpublished events (of one key, or all), oldest first; returns how many.

        Stops at the first failure, so later events of one key never overtake an earlier one.
        """
        key_filter = f" AND {self.key_column} = $3" if key is not None and self.key_column else ""
        args: list[Any] = [min_age_s, self.batch] + ([key] if key_filter else [])
        published: list[int] = []
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, event_type, payload::text AS payload, trace::text AS trace"  # noqa: S608
                f" FROM {self.table}"
                " WHERE published_at IS NULL AND created_at <= now() - make_interval(secs => $1)"
                f"{key_filter} ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED", *args)
            for row in rows:
                payload: dict[str, object] = msgspec.json.decode(row["payload"])
                trace = msgspec.json.decode(row["trace"]) if row["trace"] else None
                try:
                    with telemetry.traced(trace if isinstance(trace, dict) else None):
                        await events.publish(sidecar, self.topic, row["event_type"], payload)
                except Exception as exc:
                    log.warning("outbox_publish_failed", table=self.table, outbox_id=row["id"],
                                event_type=row["event_type"], error=type(exc).__name__)
                    await conn.execute(f"UPDATE {self.table} SET attempts = attempts + 1"  # noqa: S608
                                       " WHERE id = $1", row["id"])
                    break
                published.append(row["id"])
            if published:
                await conn.execute(f"UPDATE {self.table} SET published_at = now()"  # noqa: S608
                                   " WHERE id = ANY($1::bigint[])", published)
        return len(published)

    async def publish_committed(self, pool: asyncpg.Pool, sidecar: Sidecar, *,
                                key: Any = None) -> None:
        """Right after the commit that wrote them: have the events published. With a running
        Drainer that is a wake-up call (safe from any thread or event loop); otherwise the
        key's events (or all) are published here. A failure is logged, never raised: the
        change is committed and the Drainer publishes the rest."""
        if self.relay is not None and self.relay.kick():
            return
        try:
            await self.flush(pool, sidecar, key=key)
        except Exception as exc:
            log.warning("outbox_flush_failed", table=self.table, key=str(key),
                        error=type(exc).__name__)


class Drainer:
    """Background task that publishes what the inline publishers left behind.

    It leaves rows younger than `min_age_s` to the publisher that wrote them, unless kicked.
    """

    def __init__(self, outbox: Outbox, pool: asyncpg.Pool, sidecar: Sidecar, *,
                 interval_s: float = 2.0, min_age_s: float = 1.0) -> None:
        self._outbox, self._pool, self._sidecar = outbox, pool, sidecar
        self._interval_s, self._min_age_s = interval_s, min_age_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Run on the current event loop, and take over `publish_committed` of the outbox."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"{self._outbox.table}-drainer")
        self._outbox.relay = self

    def kick(self) -> bool:
        """Drain now, fresh rows included; False if this drainer no longer runs. Safe to call
        from any thread or event loop (the order workflow's activities run on their own)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._task is None or self._task.done():
            return False
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
            return True
        try:
            loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop closed meanwhile: the app is shutting down
            return False
        return True

    async def stop(self) -> None:
        if self._outbox.relay is self:
            self._outbox.relay = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            min_age = 0.0 if self._wake.is_set() else self._min_age_s
            self._wake.clear()
            try:
                while await self._outbox.flush(self._pool, self._sidecar,
                                               min_age_s=min_age) == self._outbox.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_drain_failed", table=self._outbox.table,
                            error=type(exc).__name__)
