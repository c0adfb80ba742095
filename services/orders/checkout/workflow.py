"""The order workflow: the checkout saga of one order, as a Dapr Workflow orchestrator.

The orchestrator is a deterministic generator: no clock but `ctx.current_utc_datetime`, no
I/O, no randomness; every side effect is an activity (activities.py), called with an
explicit retry policy and safe to run twice. Steps:

    place_order: reserve --out of stock--> cancelled(out_of_stock)
      -> a cancel already asked for? release stock -> cancelled(cancelled_by_...)
      -> charge, and once paid confirm the reservation (no expiry from then on) and mark
         the order processing (order.confirmed), all in the one activity
           --declined--> release stock -> cancelled(payment_declined)
           --hold lapsed--> refund -> release -> cancelled(out_of_stock)
      -> wait for `shipped` | `cancel` | 30 days
           cancel / timeout -> refund -> release -> cancelled(cancelled_by_customer | ...)
           shipped -> commit stock -> shipped -> wait for `delivered` | 60 days -> delivered

When place_order fails past its retry policy, the same steps run one by one (reserve_stock,
then charge_payment), each finding what the failed attempt already did; orders started
before PLACE_IN_ONE replay them too.

A cancel asked for while the order is still pending is recorded before it is raised, and
place_order looks for the record before it charges, so a cancel before payment never
charges; Dapr buffers the raised event, and the workflow looks for it (without blocking)
after the charge, so one that arrives during the charge refunds (the order may then
be cancelled from `processing`: it was confirmed in the same activity as the charge).

Changing the steps of a running workflow breaks the replay of orders already in flight, so
a change goes behind a patch (`ctx.is_patched(NAME)`): new orders record NAME in their
history and take the new path; older ones replay the old one. CHARGE_CONFIRMS and
PLACE_IN_ONE are two.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import dapr.ext.workflow as wf
import msgspec
import structlog

from services.common.contracts.events import CancelReason
from services.orders.checkout.payloads import (
    CHARGE_PAYMENT,
    COMMIT_STOCK,
    PLACE_ORDER,
    REFUND_PAYMENT,
    RELEASE_STOCK,
    RESERVE_STOCK,
    SET_STATUS,
    Activity,
    ChargeInput,
    CheckoutInput,
    CheckoutOutput,
    In,
    OrderRef,
    RefundInput,
    StatusInput,
    StatusRequest,
    StatusResult,
    decode,
    encode,
    resumed,
)

log = structlog.get_logger(__name__)

WORKFLOW_NAME = "order"

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

# CHARGE_CONFIRMS: the charge activity also marks the paid order `processing`, one activity
# (two scheduler jobs and an orchestrator turn) less per checkout.
CHARGE_CONFIRMS = "charge-confirms-order"
# PLACE_IN_ONE: reservation, charge and confirmation in one activity (`place_order`), two
# scheduler jobs and an orchestrator turn less again; the separate steps stay as the way to
# finish when it fails part-way, and for orders started before it.
PLACE_IN_ONE = "place-in-one-activity"

SHIP_DEADLINE = timedelta(days=30)
DELIVERY_DEADLINE = timedelta(days=60)

# The external events a requested status is raised as.
EVENT_CANCEL = "cancel"
EVENT_SHIPPED = "shipped"
EVENT_DELIVERED = "delivered"
EVENT_NAME_FOR_REQUEST = {"cancelled": EVENT_CANCEL, "shipped": EVENT_SHIPPED,
                          "delivered": EVENT_DELIVERED}

_RETRYING, _UNTIL = "retrying ", " until "

_T = TypeVar("_T")
_R = TypeVar("_R", bound=msgspec.Struct | None)
Steps = Generator[Any, Any, _T]


def retry_status(step: str, until: datetime) -> str:
    """The workflow's custom status while it pauses between retry rounds of `step`."""
    return f"{_RETRYING}{step}{_UNTIL}{until.isoformat()}"


def retry_pause_end(custom_status: str | None) -> datetime | None:
    """When the retry pause announced by a custom status (JSON, as stored) ends; None if
    the status announces none."""
    try:
        status = msgspec.json.decode(custom_status or "null")
        if not (isinstance(status, str) and status.startswith(_RETRYING)):
            return None
        return datetime.fromisoformat(status.rpartition(_UNTIL)[2])
    except (msgspec.DecodeError, ValueError):
        return None


# -- steps ------------------------------------------------------------------------------------
def _call(ctx: wf.DaprWorkflowContext, activity: Activity[In, Any], payload: In,
          retry_policy: wf.RetryPolicy) -> Any:
    return ctx.call_activity(activity.name, input=encode(payload), retry_policy=retry_policy)


def _must(ctx: wf.DaprWorkflowContext, activity: Activity[In, _R], payload: In) -> Steps[_R]:
    """Call an activity until it succeeds (retry policy, then durable pauses between rounds)."""
    for attempt in range(MUST_ROUNDS):
        try:
            result = yield _call(ctx, activity, payload, STEP_RETRY)
        except wf.TaskFailedError as exc:
            if not ctx.is_replaying:
                log.warning("workflow_step_failing", order_id=ctx.instance_id,
                            step=activity.name, round=attempt + 1, error=str(exc))
            pause = min(timedelta(seconds=15) * (attempt + 1), MUST_PAUSE_MAX)
            # Idle on purpose until then: the reconciler must not take it for stalled.
            ctx.set_custom_status(retry_status(activity.name, ctx.current_utc_datetime + pause))
            yield ctx.create_timer(pause)
            continue
        return decode(result, activity.output_type)
    raise RuntimeError(f"{activity.name} kept failing for order {ctx.instance_id}")


def _set_status(ctx: wf.DaprWorkflowContext, ref: OrderRef, to: str, expected: list[str],
                reason: str | None = None) -> Steps[StatusResult]:
    result = yield from _must(ctx, SET_STATUS, StatusInput(
        order_id=ref.order_id, trace=ref.trace, to=to, expected=expected, reason=reason))
    if not result.applied and not ctx.is_replaying:
        log.error("workflow_unexpected_status", order_id=str(ref.order_id), wanted=to,
                  found=result.status)
    ctx.set_custom_status(to)
    return result


def _cancel(ctx: wf.DaprWorkflowContext, ref: OrderRef, reason: str,
            expected: list[str]) -> Steps[Any]:
    yield from _set_status(ctx, ref, "cancelled", expected, reason)
    return encode(CheckoutOutput(order_id=ref.order_id, status="cancelled", reason=reason))


def _cancel_reason(data: Any) -> str:
    try:
        by = decode(data, StatusRequest).by if data is not None else "customer"
    except msgspec.ValidationError:
        by = "customer"
    return (CancelReason.CANCELLED_BY_ADMIN if by == "admin"
            else CancelReason.CANCELLED_BY_CUSTOMER).value


def _cancel_requested(ctx: wf.DaprWorkflowContext) -> str | None:
    """The reason of a buffered `cancel` event, without waiting (a zero-timeout wait)."""
    task = ctx.wait_for_external_event(EVENT_CANCEL, timeout=timedelta(0))
    if task.is_complete and not task.is_failed:
        return _cancel_reason(task.get_result())
    return None


def _refund_and_release(ctx: wf.DaprWorkflowContext, ref: OrderRef,
                        charge_id: str | None) -> Steps[None]:
    yield from _must(ctx, REFUND_PAYMENT, RefundInput(order_id=ref.order_id, trace=ref.trace,
                                                      charge_id=charge_id))
    yield from _must(ctx, RELEASE_STOCK, ref)


# -- the orchestrator ---------------------------------------------------------------------------
def order_workflow(ctx: wf.DaprWorkflowContext, payload: Any) -> Steps[Any]:
    """The checkout saga of one order; the instance id is the order id."""
    start = decode(payload, CheckoutInput)
    ref = OrderRef(order_id=start.order_id, trace=start.trace)

    ctx.set_custom_status("reserving")
    placed = None
    tried_place = ctx.is_patched(PLACE_IN_ONE)
    if tried_place:
        try:
            placed = decode((yield _call(ctx, PLACE_ORDER, ref, STEP_RETRY)),
                            PLACE_ORDER.output_type)
        except wf.TaskFailedError as exc:
            # Stopped somewhere between the reservation and the charge: the separate steps
            # below find out where (each is idempotent) and know how to finish.
            if not ctx.is_replaying:
                log.warning("workflow_place_failed", order_id=str(ref.order_id), error=str(exc))

    if placed is not None:
        reserved = placed.reserve
    else:
        try:
            reserved = decode((yield _call(ctx, RESERVE_STOCK, ref, RESERVE_RETRY)),
                              RESERVE_STOCK.output_type)
        except wf.TaskFailedError:
            # Perhaps reserved before failing: give it back.
            yield from _must(ctx, RELEASE_STOCK, ref)
            return (yield from _cancel(ctx, ref, CancelReason.INVENTORY_UNAVAILABLE,
                                       ["pending"]))
    # The failed place_order may have got as far as confirming the order: then the charge
    # step below finds its charge and hold again, and a cancel is refunded after it.
    got_through = placed is None and tried_place and resumed(reserved)
    if reserved.outcome == "skipped" and not got_through:
        return encode(CheckoutOutput(order_id=ref.order_id, status=reserved.status or "",
                                     skipped=True))
    if reserved.outcome != "reserved" and not got_through:
        return (yield from _cancel(ctx, ref, CancelReason.OUT_OF_STOCK, ["pending"]))

    if placed is not None:
        reason = placed.cancel_reason
    else:
        reason = None if got_through else _cancel_requested(ctx)
    if reason:
        yield from _must(ctx, RELEASE_STOCK, ref)
        return (yield from _cancel(ctx, ref, reason, ["pending"]))

    ctx.set_custom_status("charging")
    # Orders started before CHARGE_CONFIRMS existed replay the older steps: a separate
    # set_status activity after the charge.
    confirms = placed is not None or ctx.is_patched(CHARGE_CONFIRMS)
    if placed is not None and placed.charge is not None:
        charge = placed.charge
    else:
        charge = yield from _must(ctx, CHARGE_PAYMENT, ChargeInput(
            order_id=ref.order_id, trace=ref.trace, confirm_order=confirms))
    if charge.status != "succeeded":
        yield from _must(ctx, RELEASE_STOCK, ref)
        return (yield from _cancel(ctx, ref, CancelReason.PAYMENT_DECLINED, ["pending"]))
    if charge.hold != "confirmed":
        # The reservation lapsed before the payment went through and the units are gone.
        yield from _refund_and_release(ctx, ref, charge.charge_id)
        return (yield from _cancel(ctx, ref, CancelReason.OUT_OF_STOCK, ["pending"]))
    if confirms and charge.order_status != "processing" and not ctx.is_replaying:
        log.error("workflow_unexpected_status", order_id=str(ref.order_id),
                  wanted="processing", found=charge.order_status)

    reason = _cancel_requested(ctx)
    if reason:
        # A cancel that arrived during the charge: the order may already be processing.
        yield from _refund_and_release(ctx, ref, charge.charge_id)
        return (yield from _cancel(ctx, ref, reason, ["pending", "processing"]))

    if confirms:
        ctx.set_custom_status("processing")
    else:
        yield from _set_status(ctx, ref, "processing", ["pending"])

    cancel = ctx.wait_for_external_event(EVENT_CANCEL)
    shipped = ctx.wait_for_external_event(EVENT_SHIPPED)
    too_late = ctx.create_timer(ctx.current_utc_datetime + SHIP_DEADLINE)
    winner = yield wf.when_any([shipped, cancel, too_late])
    if winner is not shipped:
        reason = (_cancel_reason(cancel.get_result()) if winner is cancel
                  else CancelReason.NOT_SHIPPED_IN_TIME.value)
        yield from _refund_and_release(ctx, ref, charge.charge_id)
        return (yield from _cancel(ctx, ref, reason, ["processing"]))

    yield from _must(ctx, COMMIT_STOCK, ref)
    yield from _set_status(ctx, ref, "shipped", ["processing"])

    delivered = ctx.wait_for_external_event(EVENT_DELIVERED)
    assumed = ctx.create_timer(ctx.current_utc_datetime + DELIVERY_DEADLINE)
    winner = yield wf.when_any([delivered, assumed])
    yield from _set_status(ctx, ref, "delivered", ["shipped"],
                           None if winner is delivered else "delivery_assumed")
    return encode(CheckoutOutput(order_id=ref.order_id, status="delivered"))
