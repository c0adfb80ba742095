"""Repair: every pending order has a live workflow.

Creating an order stores it first and schedules its workflow second, so a crash in between
leaves a pending order without one; a crash of orders and its sidecar together can leave
a workflow whose actor never runs again. The reconciler runs in the background of every
orders process: first over every pending order older than the process (whatever a crash
left behind), then periodically over pending orders old enough not to be still in their
POST. It schedules a missing workflow, replaces a stalled one, and never re-runs a finished
one (its steps already ran).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from services.orders import repository
from services.orders.checkout import client
from services.orders.checkout.client import WorkflowClient
from services.orders.checkout.workflow import retry_pause_end

log = structlog.get_logger(__name__)

RECONCILE_INTERVAL_S = 30.0
# A pending order younger than this may still be being scheduled by the request creating it.
RECONCILE_MIN_AGE_S = 10.0
_RECONCILE_LOCK = 7_431_303
# A pending order's workflow that has not moved for this long is stalled, not working.
# Counted from the end of a durable pause between retry rounds, which the workflow announces
# in its custom status (workflow.retry_status).
STALLED_AFTER_S = 45.0
# How long a requested start may take to show before another caller may request it again.
START_QUIET_S = 30.0
_TERMINAL = ("COMPLETED", "FAILED", "TERMINATED")


async def ensure_workflow(pool: asyncpg.Pool, workflows: WorkflowClient,
                          order_id: uuid.UUID, *, requested_before: datetime | None = None,
                          may_restart: bool = True) -> str:
    """Schedule the workflow of a pending order if it has none; never re-run a finished one.
    With `may_restart` (the reconciler), also replace a stalled one (restart_stalled).

    Returns what was found: "scheduled", "starting", "running", "restarted", "failed" or
    the terminal runtime status.
    """
    state = await client.call(workflows.get_workflow_state(str(order_id),
                                                           fetch_payloads=False))
    if state is None:
        # Not there yet may mean "being started": schedule only if no start was requested
        # recently (a start becomes visible only once its actor has run).
        if not await repository.claim_workflow_start(pool, order_id, quiet_s=START_QUIET_S,
                                                     requested_before=requested_before):
            return "starting"
        return "scheduled" if await client.schedule(workflows, order_id) else "failed"
    status = getattr(state.runtime_status, "name", str(state.runtime_status))
    if status in _TERMINAL:
        # A finished workflow with a pending order: never re-run it; an operator has to
        # look. The orchestrator is written so that this cannot happen.
        log.error("pending_order_with_finished_workflow", order_id=str(order_id),
                  workflow_status=status)
        return str(status)
    idle = idle_s(state)
    if may_restart and idle > STALLED_AFTER_S:
        # Waiting out a pause between retry rounds (up to minutes during an outage) is not a
        # stall: count from the pause's end, which only the custom status tells.
        with_status = await client.call(workflows.get_workflow_state(str(order_id),
                                                                     fetch_payloads=True))
        idle = min(idle, past_retry_s(with_status))
        if idle > STALLED_AFTER_S and await repository.claim_workflow_start(
                pool, order_id, quiet_s=STALLED_AFTER_S):
            return await restart_stalled(workflows, order_id, status, idle)
    return "running"


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def idle_s(state: Any) -> float:
    """Seconds since the workflow last changed: its last update, else its creation.

    A workflow that says neither (both unset, which reads as the epoch) counts as idle for
    ever: that is what a crash between creating an instance and its first turn leaves (the
    replica test saw one, "No workflow state found ... terminating execution", its order
    pending for good), and only a restart moves it. Restarts stay one per STALLED_AFTER_S,
    through the claim in ensure_workflow.
    """
    for field in ("last_updated_at", "created_at"):
        at = getattr(state, field, None)
        if isinstance(at, datetime) and at.year >= 2000:
            return (datetime.now(UTC) - _as_utc(at)).total_seconds()
    return float("inf")


def past_retry_s(state: Any) -> float:
    """Seconds since the end of the retry pause the custom status announces (inf if none)."""
    until = retry_pause_end(getattr(state, "serialized_custom_status", None))
    if until is None:
        return float("inf")
    return (datetime.now(UTC) - _as_utc(until)).total_seconds()


async def restart_stalled(workflows: WorkflowClient, order_id: uuid.UUID, status: str,
                          idle: float) -> str:
    """Replace the stalled workflow of a pending order with a fresh one.

    Safe because the order is still pending and every activity is idempotent by order id
    (the reservation and the charge return what they did the first time).
    """
    log.warning("workflow_stalled", order_id=str(order_id), workflow_status=status,
                idle_s=round(idle))
    instance = str(order_id)
    await client.call(workflows.terminate_workflow(instance))
    for _ in range(25):
        state = await client.call(workflows.get_workflow_state(instance, fetch_payloads=False))
        if state is None or getattr(state.runtime_status, "name", "") in _TERMINAL:
            break
        await asyncio.sleep(0.2)
    # Raises while the instance is not terminal: the next reconcile pass tries again.
    await client.call(workflows.purge_workflow(instance))
    return "restarted" if await client.schedule(workflows, order_id) else "failed"


async def reconcile(pool: asyncpg.Pool, workflows: WorkflowClient, *,
                    min_age_s: float = RECONCILE_MIN_AGE_S,
                    created_before: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """One pass over the pending orders; returns how many of each outcome."""
    counts: dict[str, int] = {}
    async with pool.acquire() as conn:
        if not await repository.try_lock(conn, _RECONCILE_LOCK):
            return counts
        try:
            ids = await repository.pending_order_ids(conn, older_than_s=min_age_s,
                                                     created_before=created_before,
                                                     limit=limit)
            for order_id in ids:
                try:
                    # After a restart, a start requested by the process that crashed may
                    # be retried at once: created_before is this process's start time.
                    found = await ensure_workflow(pool, workflows, order_id,
                                                  requested_before=created_before)
                except Exception as exc:
                    # One unreadable workflow (a state save cut short by a crash) must not
                    # stop the pass from reaching the other pending orders.
                    log.warning("reconcile_order_failed", order_id=str(order_id),
                                error=repr(exc)[:300])
                    found = "error"
                counts[found] = counts.get(found, 0) + 1
        finally:
            await repository.unlock(conn, _RECONCILE_LOCK)
    if counts.get("scheduled") or counts.get("restarted") or counts.get("error"):
        log.warning("reconciled_orders", **counts)
    return counts


async def reconcile_forever(pool: asyncpg.Pool, workflows: WorkflowClient,
                            started_at: datetime) -> None:
    """Runs in the background: daprd may hold workflow calls until the app listens on its
    port, so start-up must not wait for them."""
    first = True
    while True:
        try:
            if first:
                await reconcile(pool, workflows, min_age_s=0.0, created_before=started_at)
                first = False
            else:
                await reconcile(pool, workflows)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reconcile_failed", error=repr(exc))
        await asyncio.sleep(2.0 if first else RECONCILE_INTERVAL_S)
