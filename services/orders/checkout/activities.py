"""The order workflow's activities: every side effect of the saga, each safe to run twice.

Idempotency is keyed by the order id everywhere: inventory reservations are per order id,
payment charges and refunds carry idempotency keys derived from it, and status changes are
guarded updates with one history row and one outbox event per (order, status).

dapr-ext-workflow runs `async def` activities on the worker's own event loop (a thread the
durabletask worker creates), not on the app's uvicorn loop, so they use their own asyncpg
pool and sidecar client, created lazily on the loop that runs them (`Resources`): an asyncpg
pool must never be shared between loops.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import structlog

from services.common import db, telemetry
from services.common.contracts import internal
from services.common.contracts.errors import ErrorCode, read_problem
from services.common.contracts.internal import (
    ChargeCreate,
    ChargeRead,
    RefundCreate,
    RefundRead,
    ReservationAction,
    ReservationCreate,
    ReservationLine,
)
from services.common.dapr import Sidecar, SidecarResponse
from services.common.dapr_sdk import NonRetryableError
from services.common.money import fmt
from services.common.names import INVENTORY, PAYMENTS
from services.common.settings import Settings
from services.orders import lifecycle, repository, status_requests
from services.orders.checkout.payloads import (
    CHARGE_PAYMENT,
    COMMIT_STOCK,
    PLACE_ORDER,
    REFUND_PAYMENT,
    RELEASE_STOCK,
    RESERVE_STOCK,
    SET_STATUS,
    ChargeInput,
    ChargeResult,
    Hold,
    OrderRef,
    PlaceResult,
    RefundInput,
    RefundResult,
    ReserveResult,
    StatusInput,
    StatusResult,
    resumed,
)
from services.orders.outbox import OUTBOX

log = structlog.get_logger(__name__)

# To the local sidecar a few dozen connections are plenty for the activities' loop.
SIDECAR_CONNECTIONS = 24


class Resources:
    """A database pool and a sidecar client per event loop, created on first use."""

    def __init__(self, settings: Settings, dsn: str, *, pool_size: int = 10) -> None:
        self._settings = settings
        self._dsn = dsn
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop,
                            asyncio.Task[tuple[asyncpg.Pool, Sidecar]]] = {}

    async def get(self) -> tuple[asyncpg.Pool, Sidecar]:
        loop = asyncio.get_running_loop()
        with self._lock:
            pending = self._by_loop.get(loop)
            if pending is None or (pending.done() and pending.exception() is not None):
                pending = loop.create_task(self._create())
                self._by_loop[loop] = pending
        return await asyncio.shield(pending)

    async def _create(self) -> tuple[asyncpg.Pool, Sidecar]:
        pool = await db.create_pool(self._dsn, min_size=1, max_size=self._pool_size)
        sidecar = Sidecar(self._settings.dapr_http_url, self._settings.dapr_api_token,
                          max_connections=SIDECAR_CONNECTIONS)
        log.info("activity_resources_ready", thread=threading.current_thread().name)
        return pool, sidecar

    def close(self) -> None:
        """Drop every pool without needing their loops (they may be gone already)."""
        with self._lock:
            tasks, self._by_loop = list(self._by_loop.values()), {}
        for task in tasks:
            if task.done() and task.exception() is None:
                pool, _ = task.result()
                pool.terminate()


_resources: Resources | None = None


def configure(resources: Resources | None) -> None:
    """Set (or clear) what the activities use; called by the runtime's start and stop."""
    global _resources  # activities are plain functions registered by name
    _resources = resources


async def _deps(ref: OrderRef) -> tuple[asyncpg.Pool, Sidecar]:
    """The loop's pool and sidecar; the activity's calls and events continue the order's
    trace from here."""
    if _resources is None:
        raise RuntimeError("the order activities are not configured")
    telemetry.continue_trace(ref.trace)
    return await _resources.get()


async def _order(conn: asyncpg.Pool | asyncpg.Connection, order_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.get_order(conn, order_id)
    if row is None:
        raise NonRetryableError(f"order {order_id} does not exist")
    return row


def _failed(r: SidecarResponse, what: str) -> RuntimeError:
    """A retryable failure of the activity (the retry policy tries again)."""
    return RuntimeError(f"{what} answered {r.status_code}: {r.text[:200]}")


# -- inventory -----------------------------------------------------------------------------------
async def reserve_stock(ctx: Any, ref: OrderRef) -> ReserveResult:
    """Reserve every line of the order in inventory, all or nothing."""
    pool, sidecar = await _deps(ref)
    async with pool.acquire() as conn:
        order = await _order(conn, ref.order_id)
        items = await repository.get_items(conn, [ref.order_id])
    if order["status"] != "pending":
        return ReserveResult(outcome="skipped", status=order["status"])
    r = await sidecar.invoke(INVENTORY, "POST", internal.RESERVATIONS, json=ReservationCreate(
        order_id=ref.order_id,
        items=[ReservationLine(product_id=i["product_id"], quantity=i["quantity"])
               for i in items]))
    if r.status_code < 300:
        return ReserveResult(outcome="reserved")
    problem = read_problem(r.content)
    if r.status_code == 409 and problem.code == ErrorCode.OUT_OF_STOCK:
        return ReserveResult(outcome="out_of_stock", unavailable=problem.unavailable)
    if 400 <= r.status_code < 500 and r.status_code not in (408, 429) and not problem.from_dapr:
        log.error("reservation_rejected", order_id=str(ref.order_id), status=r.status_code,
                  body=r.text[:300])
        return ReserveResult(outcome="rejected", status_code=r.status_code)
    raise _failed(r, "inventory")


async def _reservation(sidecar: Sidecar, order_id: uuid.UUID,
                       action: ReservationAction) -> SidecarResponse:
    return await sidecar.invoke(INVENTORY, "POST", internal.reservation_path(order_id, action))


async def release_stock(ctx: Any, ref: OrderRef) -> None:
    """Give the order's reserved stock back (idempotent; a no-op when nothing is reserved)."""
    _, sidecar = await _deps(ref)
    r = await _reservation(sidecar, ref.order_id, ReservationAction.RELEASE)
    if r.status_code >= 300:
        raise _failed(r, "inventory (release)")


async def commit_stock(ctx: Any, ref: OrderRef) -> None:
    """Turn the reservation into a shipment (idempotent)."""
    _, sidecar = await _deps(ref)
    r = await _reservation(sidecar, ref.order_id, ReservationAction.COMMIT)
    if r.status_code >= 300:
        raise _failed(r, "inventory (commit)")


async def _confirm_hold(sidecar: Sidecar, order_id: uuid.UUID) -> Hold:
    """Ask inventory to hold the paid order's units until commit or release (an unconfirmed
    reservation expires): "confirmed", or "lost" when the hold lapsed and the units are gone."""
    r = await _reservation(sidecar, order_id, ReservationAction.CONFIRM)
    if r.status_code < 300:
        return "confirmed"
    if r.status_code == 409 and read_problem(r.content).code:
        return "lost"
    raise _failed(r, "inventory (confirm)")


# -- payments --------------------------------------------------------------------------------------
def charge_key(order_id: uuid.UUID) -> str:
    return f"order-{order_id}-charge"


def refund_key(order_id: uuid.UUID) -> str:
    return f"order-{order_id}-refund"


async def charge_payment(ctx: Any, inp: ChargeInput) -> ChargeResult:
    """Charge the order's total once (the idempotency key is derived from the order id),
    and once it is paid, confirm its stock reservation so that it no longer expires; with
    `confirm_order` (workflow.CHARGE_CONFIRMS), then mark the order `processing` as well.

    Every step is idempotent, so a re-run gets the same charge, the same hold and the same
    status. They share one activity to save the workflow round trips through the engine
    (each activity is two scheduler jobs and an orchestrator turn).
    """
    pool, sidecar = await _deps(inp)
    order = await _order(pool, inp.order_id)
    r = await sidecar.invoke(PAYMENTS, "POST", internal.CHARGES, json=ChargeCreate(
        idempotency_key=charge_key(inp.order_id), order_id=inp.order_id,
        user_id=order["user_id"], amount=fmt(order["total"]), currency=order["currency"],
        payment_method=order["payment_method"]))
    if r.status_code < 300:
        try:
            charge = msgspec.json.decode(r.content, type=ChargeRead)
        except msgspec.DecodeError as exc:
            raise RuntimeError(f"payments answered an unknown charge: {exc}") from exc
        hold: Hold | None = None
        if charge.status == "succeeded":
            async with pool.acquire() as conn:
                await repository.set_charge(conn, inp.order_id, str(charge.charge_id))
            hold = await _confirm_hold(sidecar, inp.order_id)
        order_status = None
        if hold == "confirmed" and inp.confirm_order:
            order_status = (await _transition(pool, sidecar, inp.order_id, "processing",
                                              ["pending"])).status
        return ChargeResult(status=charge.status, charge_id=str(charge.charge_id),
                            decline_reason=charge.decline_reason, hold=hold,
                            order_status=order_status)
    if r.status_code == 422 and not read_problem(r.content).from_dapr:
        # The provider refused the request itself (e.g. an unusable payment method): nothing
        # was charged, so the order is declined.
        return ChargeResult(status="declined", decline_reason="payment_rejected")
    raise _failed(r, "payments")


async def refund_payment(ctx: Any, inp: RefundInput) -> RefundResult:
    """Refund the whole charge once (idempotency key derived from the order id)."""
    pool, sidecar = await _deps(inp)
    order = await _order(pool, inp.order_id)
    charge_id = inp.charge_id or order["charge_id"]
    if not charge_id:
        return RefundResult(status="nothing_to_refund")
    r = await sidecar.invoke(PAYMENTS, "POST", internal.REFUNDS, json=RefundCreate(
        idempotency_key=refund_key(inp.order_id), charge_id=uuid.UUID(str(charge_id)),
        amount=fmt(order["total"])))
    if r.status_code >= 300:
        raise _failed(r, "payments (refund)")
    refund = msgspec.json.decode(r.content, type=RefundRead)
    async with pool.acquire() as conn:
        await repository.set_refund(conn, inp.order_id, str(refund.refund_id))
    return RefundResult(status=refund.status, refund_id=str(refund.refund_id))


# -- the forward path in one step ---------------------------------------------------------------
async def place_order(ctx: Any, ref: OrderRef) -> PlaceResult:
    """Reserve, then (unless a cancel was asked for meanwhile) charge, confirm the hold and
    mark the order processing: the saga's forward path as one activity (workflow.PLACE_IN_ONE).

    Each activity costs the workflow engine two scheduler jobs, a state write and an
    orchestrator turn, the largest share of a checkout's CPU after the apps themselves; the
    steps are the same idempotent calls as reserve_stock and charge_payment, so a re-run
    after a failure part-way finds the reservation and the charge already made.
    """
    reserved = await reserve_stock(ctx, ref)
    if resumed(reserved):
        # An earlier attempt got as far as confirming the order, then failed (say, before
        # its event was published): the charge below finds that attempt's charge and hold.
        # A cancel asked for since then is the workflow's to refund, after this activity.
        reserved = ReserveResult(outcome="reserved")
    elif reserved.outcome != "reserved":
        return PlaceResult(reserve=reserved)
    else:
        pool, _ = await _deps(ref)
        reason = await status_requests.cancel_reason(pool, ref.order_id)
        if reason is not None:
            return PlaceResult(reserve=reserved, cancel_reason=reason)
    charge = await charge_payment(ctx, ChargeInput(order_id=ref.order_id, trace=ref.trace,
                                                   confirm_order=True))
    return PlaceResult(reserve=reserved, charge=charge)


# -- the order itself ------------------------------------------------------------------------------
async def set_status(ctx: Any, inp: StatusInput) -> StatusResult:
    """Guarded status change + history + outbox in one transaction, then publish the event.

    Run twice, the second run finds the status applied and only re-publishes whatever the
    first run left unpublished (a crash between commit and publish).
    """
    pool, sidecar = await _deps(inp)
    return await _transition(pool, sidecar, inp.order_id, inp.to, inp.expected, inp.reason)


async def _transition(pool: asyncpg.Pool, sidecar: Sidecar, order_id: uuid.UUID, to: str,
                      expected: list[str], reason: str | None = None) -> StatusResult:
    """The status change, committed, then its event published."""
    result = await lifecycle.transition(pool, order_id, to, expected, reason)
    await OUTBOX.publish_committed(pool, sidecar, key=order_id)
    return StatusResult(applied=result.applied, status=result.status)


def registered() -> list[Callable[[Any, Any], Awaitable[Any]]]:
    """The activities as the runtime registers them, named and typed by their definitions
    (new function objects on every call: the SDK marks what it registers)."""
    return [
        RESERVE_STOCK.wrap(reserve_stock),
        RELEASE_STOCK.wrap(release_stock),
        COMMIT_STOCK.wrap(commit_stock),
        CHARGE_PAYMENT.wrap(charge_payment),
        REFUND_PAYMENT.wrap(refund_payment),
        SET_STATUS.wrap(set_status),
        PLACE_ORDER.wrap(place_order),
    ]
