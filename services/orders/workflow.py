"""The order workflow (a Dapr Workflow saga) and its runtime, plus the start-up reconciler.

The orchestrator is a deterministic generator: no clock but `ctx.current_utc_datetime`, no
I/O, no randomness; every side effect is an activity (services.orders.activities), called
with an explicit retry policy and safe to run twice. Steps:

    reserve stock --out of stock--> cancelled(out_of_stock)
      -> charge, and once paid confirm the reservation (no expiry from then on) and mark
         the order processing (order.confirmed), all in the one charge activity
           --declined--> release stock -> cancelled(payment_declined)
           --hold lapsed--> refund -> release -> cancelled(out_of_stock)
      -> wait for `shipped` | `cancel` | 30 days
           cancel / timeout -> refund -> release -> cancelled(cancelled_by_customer | ...)
           shipped -> commit stock -> shipped -> wait for `delivered` | 60 days -> delivered

A `cancel` raised while the order is still pending is buffered by Dapr; the workflow looks
for it (without blocking) after the reservation and after the charge, so a cancel before
payment never charges, and one that arrives during the charge refunds (the order may then
be cancelled from `processing`: it was confirmed in the same activity as the charge).

Changing the steps of a running workflow breaks the replay of orders already in flight, so
a change goes behind a patch (`ctx.is_patched(NAME)`): new orders record NAME in their
history and take the new path; older ones replay the old one. CHARGE_CONFIRMS is one.

The runtime connects to this app's sidecar over gRPC (DAPR_GRPC_PORT) and runs in
background threads; see activities.py for which event loop the activities run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf
import structlog
from dapr.ext.workflow.logger.options import LoggerOptions
from litestar import Litestar

from services.common.settings import Settings
from services.orders import activities, repository, service

log = structlog.get_logger(__name__)


# Transient failures (a service restarting, a sidecar reconnecting) are retried quickly.
STEP_RETRY = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=500),
                            max_number_of_attempts=6, backoff_coefficient=2.0,
                            max_retry_interval=timedelta(seconds=10))
# A reservation that cannot be made for about a minute cancels the order.
RESERVE_RETRY = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=500),
                               max_number_of_attempts=8, backoff_coefficient=2.0,
                               max_retry_interval=timedelta(seconds=15))
# Steps that must eventually happen (a charge whose outcome we must learn, compensations,
# status writes) are retried in rounds separated by durable timers, for about a day.
MUST_ROUNDS = 300
MUST_PAUSE_MAX = timedelta(minutes=5)

# Workflow versioning (`ctx.is_patched`): a patch name is recorded in the history of the
# orders that took the new path, so orders in flight across an upgrade replay the old one.
# CHARGE_CONFIRMS: the charge activity also marks the paid order `processing`, one activity
# (two scheduler jobs and an orchestrator turn) less per checkout.
CHARGE_CONFIRMS = "charge-confirms-order"

SHIP_DEADLINE = timedelta(days=30)
DELIVERY_DEADLINE = timedelta(days=60)

# Orchestrator turns run on the SDK's thread pool, and each finished activity or turn is
# sent back to the sidecar by a blocking gRPC call from the same pool; the default
# (cpu_count + 4) is small for many concurrent checkouts.
WORKER_THREADS = 16

RECONCILE_INTERVAL_S = 30.0
# A pending order younger than this may still be being scheduled by the request creating it.
RECONCILE_MIN_AGE_S = 10.0
_RECONCILE_LOCK = 7_431_303

Steps = Generator[Any, Any, Any]


# -- the orchestrator ------------------------------------------------------------------------
def _must(ctx: wf.DaprWorkflowContext, activity: str, payload: dict[str, Any]) -> Steps:
    """Call an activity until it succeeds (retry policy, then durable pauses between rounds)."""
    for attempt in range(MUST_ROUNDS):
        try:
            return (yield ctx.call_activity(activity, input=payload, retry_policy=STEP_RETRY))
        except wf.TaskFailedError as exc:
            if not ctx.is_replaying:
                log.warning("workflow_step_failing", order_id=ctx.instance_id, step=activity,
                            round=attempt + 1, error=str(exc))
            pause = min(timedelta(seconds=15) * (attempt + 1), MUST_PAUSE_MAX)
            # Idle on purpose until then: the reconciler must not take it for stalled.
            ctx.set_custom_status(service.retry_status(activity,
                                                       ctx.current_utc_datetime + pause))
            yield ctx.create_timer(pause)
    raise RuntimeError(f"{activity} kept failing for order {ctx.instance_id}")


def _set_status(ctx: wf.DaprWorkflowContext, ref: dict[str, Any], to: str, expected: list[str],
                reason: str | None = None) -> Steps:
    result = yield from _must(ctx, "set_status", {**ref, "to": to, "expected": expected,
                                                  "reason": reason})
    if not result["applied"] and not ctx.is_replaying:
        log.error("workflow_unexpected_status", order_id=ref["order_id"], wanted=to,
                  found=result["status"])
    ctx.set_custom_status(to)
    return result


def _cancel(ctx: wf.DaprWorkflowContext, ref: dict[str, Any], reason: str,
            expected: list[str]) -> Steps:
    yield from _set_status(ctx, ref, "cancelled", expected, reason)
    return {"order_id": ref["order_id"], "status": "cancelled", "reason": reason}


def _cancel_reason(data: Any) -> str:
    by = data.get("by") if isinstance(data, dict) else None
    return "cancelled_by_admin" if by == "admin" else "cancelled_by_customer"


def _cancel_requested(ctx: wf.DaprWorkflowContext) -> str | None:
    """The reason of a buffered `cancel` event, without waiting (a zero-timeout wait)."""
    task = ctx.wait_for_external_event(service.EVENT_CANCEL, timeout=timedelta(0))
    if task.is_complete and not task.is_failed:
        return _cancel_reason(task.get_result())
    return None


def order_workflow(ctx: wf.DaprWorkflowContext, payload: dict[str, Any]) -> Steps:
    """The checkout saga of one order; the instance id is the order id."""
    order_id = str(payload["order_id"])
    # The trace context of the request that placed the order, so every activity's calls and
    # events continue the checkout's trace (services.common.telemetry.continue_trace).
    ref = {"order_id": order_id, "trace": payload.get("trace") or {}}

    ctx.set_custom_status("reserving")
    try:
        reserved = yield ctx.call_activity("reserve_stock", input=ref,
                                           retry_policy=RESERVE_RETRY)
    except wf.TaskFailedError:
        # Perhaps reserved before failing: give it back.
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, "inventory_unavailable", ["pending"]))
    if reserved["outcome"] == "skipped":
        return {"order_id": order_id, "status": reserved["status"], "skipped": True}
    if reserved["outcome"] != "reserved":
        return (yield from _cancel(ctx, ref, "out_of_stock", ["pending"]))

    reason = _cancel_requested(ctx)
    if reason:
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, reason, ["pending"]))

    ctx.set_custom_status("charging")
    # Orders started before CHARGE_CONFIRMS existed replay the older steps: a separate
    # set_status activity after the charge (see the module docstring on versioning).
    confirms = ctx.is_patched(CHARGE_CONFIRMS)
    charge = yield from _must(ctx, "charge_payment", {**ref, "confirm_order": confirms})
    if charge["status"] != "succeeded":
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, "payment_declined", ["pending"]))
    refund = {**ref, "charge_id": charge["charge_id"]}
    if charge.get("hold") != "confirmed":
        # The reservation lapsed before the payment went through and the units are gone.
        yield from _must(ctx, "refund_payment", refund)
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, "out_of_stock", ["pending"]))
    if confirms and charge.get("order_status") != "processing" and not ctx.is_replaying:
        log.error("workflow_unexpected_status", order_id=order_id, wanted="processing",
                  found=charge.get("order_status"))

    reason = _cancel_requested(ctx)
    if reason:
        # A cancel that arrived during the charge: the order may already be processing.
        yield from _must(ctx, "refund_payment", refund)
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, reason, ["pending", "processing"]))

    if confirms:
        ctx.set_custom_status("processing")
    else:
        yield from _set_status(ctx, ref, "processing", ["pending"])

    cancel = ctx.wait_for_external_event(service.EVENT_CANCEL)
    shipped = ctx.wait_for_external_event(service.EVENT_SHIPPED)
    too_late = ctx.create_timer(ctx.current_utc_datetime + SHIP_DEADLINE)
    winner = yield wf.when_any([shipped, cancel, too_late])
    if winner is not shipped:
        reason = _cancel_reason(cancel.get_result()) if winner is cancel else "not_shipped_in_time"
        yield from _must(ctx, "refund_payment", refund)
        yield from _must(ctx, "release_stock", ref)
        return (yield from _cancel(ctx, ref, reason, ["processing"]))

    yield from _must(ctx, "commit_stock", ref)
    yield from _set_status(ctx, ref, "shipped", ["processing"])

    delivered = ctx.wait_for_external_event(service.EVENT_DELIVERED)
    assumed = ctx.create_timer(ctx.current_utc_datetime + DELIVERY_DEADLINE)
    winner = yield wf.when_any([delivered, assumed])
    reason = None if winner is delivered else "delivery_assumed"
    yield from _set_status(ctx, ref, "delivered", ["shipped"], reason)
    return {"order_id": order_id, "status": "delivered"}


# -- the platform check workflow ---------------------------------------------------------------
def ping_workflow(ctx: wf.DaprWorkflowContext, payload: dict[str, Any]) -> Any:
    """A trivial workflow: one activity round trip. Used to check the workflow engine."""
    answer = yield ctx.call_activity("ping_activity", input=payload)
    return answer


def ping_activity(ctx: wf.WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"pong": payload.get("ping"), "instance": ctx.workflow_id}


# -- runtime -----------------------------------------------------------------------------------
def _fresh_sync(fn: Any) -> Any:
    """A new function object per registration (the SDK marks registered functions)."""
    def run(ctx: Any, payload: dict[str, Any]) -> Any:
        return fn(ctx, payload)
    run.__name__ = fn.__name__
    return run


def _fresh_async(fn: Any) -> Any:
    async def run(ctx: Any, payload: dict[str, Any]) -> Any:
        return await fn(ctx, payload)
    run.__name__ = fn.__name__
    return run


def _quiet_sdk_logs() -> None:
    """The SDK logs every orchestration step at INFO through its own plain-text handler;
    keep warnings only, through the app's JSON handler on the root logger."""
    for name in ("durabletask-worker", "durabletask-client", "WorkflowRuntime",
                 "DaprWorkflowClient"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
        logger.setLevel(logging.WARNING)


def build_runtime(settings: Settings) -> wf.WorkflowRuntime:
    options = LoggerOptions(log_level="WARNING", log_handler=logging.NullHandler())
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(settings.dapr_grpc_port),
                                 logger_options=options,
                                 maximum_thread_pool_workers=WORKER_THREADS)
    _quiet_sdk_logs()
    runtime.register_workflow(_fresh_sync(ping_workflow), name="ping")
    runtime.register_activity(_fresh_sync(ping_activity), name="ping_activity")
    runtime.register_workflow(_fresh_sync(order_workflow), name=service.WORKFLOW_NAME)
    for name, fn in activities.ACTIVITIES.items():
        runtime.register_activity(_fresh_async(fn), name=name)
    return runtime


def client(settings: Settings) -> Any:
    from dapr.ext.workflow.aio import DaprWorkflowClient

    options = LoggerOptions(log_level="WARNING", log_handler=logging.NullHandler())
    workflows = DaprWorkflowClient(host="127.0.0.1", port=str(settings.dapr_grpc_port),
                                   logger_options=options)
    _quiet_sdk_logs()
    return workflows


# -- recovery ----------------------------------------------------------------------------------
async def reconcile(app: Litestar, *, min_age_s: float = RECONCILE_MIN_AGE_S,
                    created_before: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Give every pending order without a workflow one; never re-run a finished workflow."""
    counts: dict[str, int] = {}
    async with app.state.db.acquire() as conn:
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
                    found = await service.ensure_workflow(app.state.db,
                                                          app.state.workflow_client, order_id,
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


async def _reconcile_forever(app: Litestar, started_at: datetime) -> None:
    """First every pending order older than this process (whatever a crash left behind),
    then, periodically, pending orders old enough not to be still in their POST.

    Runs in the background: daprd may hold workflow calls until the app listens on its
    port, so start-up must not wait for them.
    """
    first = True
    while True:
        try:
            if first:
                await reconcile(app, min_age_s=0.0, created_before=started_at)
                first = False
            else:
                await reconcile(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reconcile_failed", error=repr(exc))
        await asyncio.sleep(2.0 if first else RECONCILE_INTERVAL_S)


# -- lifespan hooks ----------------------------------------------------------------------------
async def start(app: Litestar) -> None:
    settings: Settings = app.state.settings
    resources = activities.Resources(settings, app.state.db_dsn)
    activities.configure(resources)
    app.state.activity_resources = resources
    runtime = build_runtime(settings)
    await asyncio.to_thread(runtime.start)
    app.state.workflow_runtime = runtime
    app.state.workflow_client = client(settings)
    app.state.reconciler = asyncio.create_task(_reconcile_forever(app, datetime.now(UTC)),
                                               name="orders-reconciler")


async def stop(app: Litestar) -> None:
    task = app.state.get("reconciler")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    runtime = app.state.get("workflow_runtime")
    if runtime is not None:
        await asyncio.to_thread(runtime.shutdown)
    resources = app.state.get("activity_resources")
    if resources is not None:
        resources.close()
        activities.configure(None)
