"""Orders domain logic: checkout, reads, status requests and guarded status transitions.

Creating an order stores it first (order, lines, first history row and its `order.created`
outbox row, in one transaction) and schedules its workflow second; the reconciler
(services.orders.workflow.reconcile) schedules a workflow for any pending order left without
one by a crash in between. Status changes requested through the API are raised as events into
the order's workflow, which is the only writer of an order's status.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import asyncpg
import grpc  # type: ignore[import-untyped]
import msgspec
import structlog

from services.common import telemetry
from services.common.auth import Identity
from services.common.dapr import Sidecar
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from services.common.money import CENT, MAX_AMOUNT, fmt, to_money
from services.common.names import PRODUCTS
from services.orders import repository
from services.orders.outbox import OUTBOX
from services.orders.schemas import (
    FINAL_STATUSES,
    MAX_QUANTITY,
    OrderCreate,
    OrderItemRead,
    OrderPage,
    OrderRead,
    StatusEntry,
)

log = structlog.get_logger(__name__)

CURRENCY = "USD"
WORKFLOW_NAME = "order"
# An Idempotency-Key replay re-checks the workflow only for orders older than this: a younger
# one is still being scheduled by the request that created it.
REPLAY_RECHECK_AFTER_S = 5.0
# A workflow call that hangs (sidecar restarting) must not hold a request or the reconciler.
WORKFLOW_CALL_TIMEOUT_S = 10.0
# A pending order's workflow that has not moved for this long is stalled, not working: a
# crash of orders and its sidecar together can leave an instance whose actor never runs.
# Counted from the end of a durable pause between retry rounds, which the workflow announces
# in its custom status (retry_status).
STALLED_AFTER_S = 45.0
# How long a requested start may take to show before another caller may request it again.
START_QUIET_S = 30.0
_TERMINAL = ("COMPLETED", "FAILED", "TERMINATED")
# How long PATCH /status waits for the workflow to apply a change before answering 202.
STATUS_WAIT_S = 5.0

EVENT_FOR_STATUS = {
    "pending": "order.created",
    "processing": "order.confirmed",
    "shipped": "order.shipped",
    "delivered": "order.delivered",
    "cancelled": "order.cancelled",
}
# Which statuses each status can still lead to (the lifecycle is acyclic).
REACHABLE: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "shipped", "delivered", "cancelled"}),
    "processing": frozenset({"shipped", "delivered", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
# The workflow events a requested status is raised as (services/orders/workflow.py waits
# for these names).
EVENT_CANCEL = "cancel"
EVENT_SHIPPED = "shipped"
EVENT_DELIVERED = "delivered"
EVENT_NAME_FOR_REQUEST = {"cancelled": EVENT_CANCEL, "shipped": EVENT_SHIPPED,
                          "delivered": EVENT_DELIVERED}


class WorkflowClient(Protocol):
    """The part of dapr.ext.workflow.aio.DaprWorkflowClient this module uses."""

    async def schedule_new_workflow(self, workflow: str, *, input: Any = None,
                                    instance_id: str | None = None) -> str: ...

    async def get_workflow_state(self, instance_id: str, *,
                                 fetch_payloads: bool = True) -> Any: ...

    async def raise_workflow_event(self, instance_id: str, event_name: str, *,
                                   data: Any = None) -> None: ...

    async def terminate_workflow(self, instance_id: str) -> None: ...

    async def purge_workflow(self, instance_id: str) -> None: ...


# -- pure helpers (unit-tested) --------------------------------------------------------------
def merge_lines(body: OrderCreate) -> list[tuple[uuid.UUID, int]]:
    """Merge lines naming the same product (first position kept); InvalidInput past the cap."""
    merged: dict[uuid.UUID, int] = {}
    for line in body.items:
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    too_many = [str(pid) for pid, qty in merged.items() if qty > MAX_QUANTITY]
    if too_many:
        raise InvalidInput(f"A product can be ordered at most {MAX_QUANTITY} times per order",
                           errors=[{"field": "items",
                                    "message": f"quantity over {MAX_QUANTITY} for {pid}"}
                                   for pid in too_many])
    return list(merged.items())


def request_hash(lines: list[tuple[uuid.UUID, int]], body: OrderCreate) -> str:
    """A digest of what the request asks for, independent of line order and key order."""
    canonical = {
        "items": sorted([str(pid), qty] for pid, qty in lines),
        "shipping_address": msgspec.to_builtins(body.shipping_address),
        "payment_method": body.payment_method,
    }
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()


def price_lines(lines: list[tuple[uuid.UUID, int]], catalog: dict[uuid.UUID, dict[str, Any]],
                ) -> tuple[list[repository.NewLine], Decimal]:
    """Price each line from the catalog; InvalidInput names unknown or inactive products."""
    errors: list[dict[str, Any]] = []
    priced: list[repository.NewLine] = []
    for index, (pid, qty) in enumerate(lines):
        product = catalog.get(pid)
        if product is None:
            errors.append({"field": f"items[{index}].product_id",
                           "message": f"unknown product {pid}"})
            continue
        if not product.get("active", False):
            errors.append({"field": f"items[{index}].product_id",
                           "message": f"product {pid} is not available"})
            continue
        try:
            unit = to_money(product["price"])
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"product {pid} has no valid price") from exc
        priced.append(repository.NewLine(product_id=pid, name=str(product.get("name", "")),
                                         unit_price=unit, quantity=qty,
                                         line_total=(unit * qty).quantize(CENT)))
    if errors:
        raise InvalidInput("; ".join(e["message"] for e in errors), errors=errors)
    total = sum((ln.line_total for ln in priced), Decimal("0.00")).quantize(CENT)
    if total > MAX_AMOUNT:
        raise InvalidInput(f"The order total may not exceed {MAX_AMOUNT}")
    return priced, total


def can_request(current: str, target: str, *, is_admin: bool) -> None:
    """Who may ask for which status: raises Forbidden (403) or Conflict (409)."""
    if target == "cancelled":
        if current not in ("pending", "processing"):
            raise Conflict(f"An order that is {current} can no longer be cancelled")
        return
    if target in ("shipped", "delivered"):
        if not is_admin:
            raise Forbidden("Only an admin can mark an order shipped or delivered")
        needed = "processing" if target == "shipped" else "shipped"
        if current != needed:
            raise Conflict(f"An order that is {current} cannot become {target}")
        return
    raise Conflict(f"An order cannot be moved to {target} by request")


def event_payload(order: Mapping[str, Any], items: Sequence[Mapping[str, Any]],
                  *, status: str, reason: str | None, at: datetime) -> dict[str, Any]:
    """The body of an `order.*` event (see ARCHITECTURE.md, Events)."""
    payload: dict[str, Any] = {
        "order_id": str(order["id"]),
        "user_id": str(order["user_id"]),
        "user_email": order["user_email"],
        "status": status,
        "total": fmt(order["total"]),
        "currency": order["currency"],
        "items": [{"product_id": str(i["product_id"]), "name": i["name"],
                   "quantity": i["quantity"], "unit_price": fmt(i["unit_price"]),
                   "line_total": fmt(i["line_total"])} for i in items],
        "occurred_at": at.isoformat(),
    }
    if reason:
        payload["reason"] = reason
    return payload


# -- reads -----------------------------------------------------------------------------------
def _to_read(row: asyncpg.Record, items: list[asyncpg.Record],
             history: list[asyncpg.Record]) -> OrderRead:
    return OrderRead(
        id=row["id"], user_id=row["user_id"], status=row["status"],
        cancel_reason=row["cancel_reason"], total=fmt(row["total"]), currency=row["currency"],
        payment_method=row["payment_method"],
        shipping_address=msgspec.json.decode(row["shipping_address"]),
        items=[OrderItemRead(product_id=i["product_id"], name=i["name"], quantity=i["quantity"],
                             unit_price=fmt(i["unit_price"]), line_total=fmt(i["line_total"]))
               for i in items],
        history=[StatusEntry(status=h["status"], at=h["at"], reason=h["reason"])
                 for h in history],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def _hydrate(conn: repository.Conn, rows: list[asyncpg.Record]) -> list[OrderRead]:
    ids = [r["id"] for r in rows]
    items: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    history: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    if ids:
        for i in await repository.get_items(conn, ids):
            items[i["order_id"]].append(i)
        for h in await repository.get_history(conn, ids):
            history[h["order_id"]].append(h)
    return [_to_read(r, items[r["id"]], history[r["id"]]) for r in rows]


async def read_order(pool: asyncpg.Pool, order_id: uuid.UUID, identity: Identity) -> OrderRead:
    """The order if the caller owns it or is an admin; NotFound otherwise (even if it exists)."""
    async with pool.acquire() as conn:
        row = await repository.get_order(conn, order_id,
                                         owner=None if identity.is_admin else identity.user_id)
        if row is None:
            raise NotFound(f"No order {order_id}")
        return (await _hydrate(conn, [row]))[0]


async def list_orders(pool: asyncpg.Pool, identity: Identity, *, page: int, page_size: int,
                      status: str | None) -> OrderPage:
    async with pool.acquire() as conn:
        rows, total = await repository.list_orders(
            conn, owner=None if identity.is_admin else identity.user_id, status=status,
            limit=page_size, offset=(page - 1) * page_size)
        return OrderPage(items=await _hydrate(conn, rows), total=total, page=page,
                         page_size=page_size)


# -- checkout --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Created:
    order: OrderRead
    replayed: bool


async def fetch_catalog(sidecar: Sidecar, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The products by id, from the catalog through Dapr service invocation."""
    body = await sidecar.invoke_json(PRODUCTS, "POST", "internal/products/batch",
                                     json={"ids": [str(i) for i in ids]})
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for item in (body or {}).get("items", []):
        try:
            out[uuid.UUID(str(item["id"]))] = item
        except (KeyError, ValueError):
            continue
    return out


async def create_order(pool: asyncpg.Pool, sidecar: Sidecar, workflows: WorkflowClient,
                       identity: Identity, body: OrderCreate,
                       idempotency_key: str | None) -> Created:
    lines = merge_lines(body)
    digest = request_hash(lines, body) if idempotency_key else None
    if idempotency_key:
        async with pool.acquire() as conn:
            existing = await repository.find_by_idempotency_key(conn, identity.user_id,
                                                               idempotency_key)
        if existing is not None:
            return await _replay(pool, workflows, existing, digest)

    catalog = await fetch_catalog(sidecar, [pid for pid, _ in lines])
    priced, total = price_lines(lines, catalog)
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    address = msgspec.json.encode(body.shipping_address).decode()
    base = {"id": order_id, "user_id": identity.user_id, "user_email": identity.email,
            "total": total, "currency": CURRENCY}
    created_payload = event_payload(
        base, [{"product_id": ln.product_id, "name": ln.name, "quantity": ln.quantity,
                "unit_price": ln.unit_price, "line_total": ln.line_total} for ln in priced],
        status="pending", reason=None, at=now)
    new = repository.NewOrder(
        id=order_id, user_id=identity.user_id, user_email=identity.email, currency=CURRENCY,
        total=total, payment_method=body.payment_method, shipping_address_json=address,
        idempotency_key=idempotency_key, request_hash=digest, lines=priced,
        created_event=EVENT_FOR_STATUS["pending"],
        created_payload_json=msgspec.json.encode(created_payload).decode(), created_at=now)
    async with pool.acquire() as conn:
        # Also marks the workflow start requested: this request schedules it, below.
        inserted = await repository.insert_order(conn, new)
        if not inserted:
            assert idempotency_key is not None  # only the idempotency key can conflict
            existing = await repository.find_by_idempotency_key(conn, identity.user_id,
                                                               idempotency_key)
    if not inserted:
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish
            raise Conflict("The order for this Idempotency-Key could not be read back")
        return await _replay(pool, workflows, existing, digest)

    await schedule_workflow(workflows, order_id)
    # What was just committed; no need to read it back.
    return Created(replayed=False, order=OrderRead(
        id=order_id, user_id=identity.user_id, status="pending", cancel_reason=None,
        total=fmt(total), currency=CURRENCY, payment_method=body.payment_method,
        shipping_address=msgspec.to_builtins(body.shipping_address),
        items=[OrderItemRead(product_id=ln.product_id, name=ln.name, quantity=ln.quantity,
                             unit_price=fmt(ln.unit_price), line_total=fmt(ln.line_total))
               for ln in priced],
        history=[StatusEntry(status="pending", at=now)], created_at=now, updated_at=now))


async def _replay(pool: asyncpg.Pool, workflows: WorkflowClient, row: asyncpg.Record,
                  digest: str | None) -> Created:
    if row["request_hash"] != digest:
        raise InvalidInput("This Idempotency-Key was already used with a different request")
    age = (datetime.now(UTC) - row["created_at"]).total_seconds()
    if row["status"] == "pending" and age > REPLAY_RECHECK_AFTER_S:
        try:
            # A missing workflow is started here; a stalled one is the reconciler's to replace
            # (terminate, purge, start again: not work for a client's retried POST).
            await ensure_workflow(pool, workflows, row["id"], may_restart=False)
        except Exception as exc:  # the order exists; the reconciler starts its workflow later
            log.warning("replay_workflow_check_failed", order_id=str(row["id"]), error=repr(exc))
    async with pool.acquire() as conn:
        fresh = await repository.get_order(conn, row["id"])
        assert fresh is not None
        return Created(order=(await _hydrate(conn, [fresh]))[0], replayed=True)


async def schedule_workflow(workflows: WorkflowClient, order_id: uuid.UUID) -> bool:
    """Start the order's workflow; on failure the reconciler starts it later."""
    try:
        await asyncio.wait_for(
            workflows.schedule_new_workflow(
                WORKFLOW_NAME, input={"order_id": str(order_id),
                                      "trace": telemetry.outgoing_headers()},
                instance_id=str(order_id)),
            WORKFLOW_CALL_TIMEOUT_S)
    except Exception as exc:
        log.warning("workflow_schedule_failed", order_id=str(order_id), error=repr(exc))
        return False
    return True


async def ensure_workflow(pool: asyncpg.Pool, workflows: WorkflowClient,
                          order_id: uuid.UUID, *, requested_before: datetime | None = None,
                          may_restart: bool = True) -> str:
    """Schedule the workflow of a pending order if it has none; never re-run a finished one.
    With `may_restart` (the reconciler), also replace a stalled one (restart_stalled).

    Returns what was found: "scheduled", "running" or the terminal runtime status.
    """
    state = await asyncio.wait_for(
        workflows.get_workflow_state(str(order_id), fetch_payloads=False),
        WORKFLOW_CALL_TIMEOUT_S)
    if state is None:
        # Not there yet may mean "being started": schedule only if no start was requested
        # recently (a start becomes visible only once its actor has run).
        if not await repository.claim_workflow_start(pool, order_id, quiet_s=START_QUIET_S,
                                                     requested_before=requested_before):
            return "starting"
        return "scheduled" if await schedule_workflow(workflows, order_id) else "failed"
    status = getattr(state.runtime_status, "name", str(state.runtime_status))
    if status in _TERMINAL:
        # A finished workflow with a pending order: never re-run it (its steps already ran);
        # an operator has to look. The orchestrator is written so that this cannot happen.
        log.error("pending_order_with_finished_workflow", order_id=str(order_id),
                  workflow_status=status)
        return status
    idle = _idle_s(state)
    if may_restart and idle > STALLED_AFTER_S:
        # Waiting out a pause between retry rounds (up to minutes during an outage) is not a
        # stall: count from the pause's end, which only the custom status tells.
        with_status = await asyncio.wait_for(
            workflows.get_workflow_state(str(order_id), fetch_payloads=True),
            WORKFLOW_CALL_TIMEOUT_S)
        idle = min(idle, _past_retry_s(with_status))
        if idle > STALLED_AFTER_S and await repository.claim_workflow_start(
                pool, order_id, quiet_s=STALLED_AFTER_S):
            return await restart_stalled(workflows, order_id, status, idle)
    return "running"


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _idle_s(state: Any) -> float:
    """Seconds since the workflow last changed (0 when the runtime does not say)."""
    updated = getattr(state, "last_updated_at", None)
    if not isinstance(updated, datetime) or updated.year < 2000:  # unset reads as the epoch
        return 0.0
    return (datetime.now(UTC) - _as_utc(updated)).total_seconds()


_RETRYING, _UNTIL = "retrying ", " until "


def retry_status(step: str, until: datetime) -> str:
    """The workflow's custom status while it pauses between retry rounds of `step`."""
    return f"{_RETRYING}{step}{_UNTIL}{until.isoformat()}"


def _past_retry_s(state: Any) -> float:
    """Seconds since the end of the retry pause the custom status announces (inf if none)."""
    try:
        status = msgspec.json.decode(getattr(state, "serialized_custom_status", None) or "null")
        if not (isinstance(status, str) and status.startswith(_RETRYING)):
            return float("inf")
        until = datetime.fromisoformat(status.rpartition(_UNTIL)[2])
    except (msgspec.DecodeError, ValueError):
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
    await asyncio.wait_for(workflows.terminate_workflow(instance), WORKFLOW_CALL_TIMEOUT_S)
    for _ in range(25):
        state = await asyncio.wait_for(
            workflows.get_workflow_state(instance, fetch_payloads=False),
            WORKFLOW_CALL_TIMEOUT_S)
        if state is None or getattr(state.runtime_status, "name", "") in _TERMINAL:
            break
        await asyncio.sleep(0.2)
    # Raises while the instance is not terminal: the next reconcile pass tries again.
    await asyncio.wait_for(workflows.purge_workflow(instance), WORKFLOW_CALL_TIMEOUT_S)
    return "restarted" if await schedule_workflow(workflows, order_id) else "failed"


# -- status requests -------------------------------------------------------------------------
async def request_status(pool: asyncpg.Pool, workflows: WorkflowClient, identity: Identity,
                         order_id: uuid.UUID, target: str) -> tuple[OrderRead, bool]:
    """Raise the requested change into the order's workflow and wait briefly for it.

    Returns the order and whether the change is already visible (200) or still being
    applied by the workflow (202).
    """
    async with pool.acquire() as conn:
        row = await repository.get_order(conn, order_id,
                                         owner=None if identity.is_admin else identity.user_id)
    if row is None:
        raise NotFound(f"No order {order_id}")
    current: str = row["status"]
    can_request(current, target, is_admin=identity.is_admin)
    by = "customer" if row["user_id"] == identity.user_id else "admin"
    try:
        await asyncio.wait_for(
            workflows.raise_workflow_event(str(order_id), EVENT_NAME_FOR_REQUEST[target],
                                           data={"by": by, "user_id": str(identity.user_id)}),
            WORKFLOW_CALL_TIMEOUT_S)
    except (TimeoutError, grpc.RpcError) as exc:
        log.warning("workflow_event_failed", order_id=str(order_id), error=repr(exc))
        raise Unavailable("The order workflow cannot be reached; try again") from exc
    status = await wait_for_status(pool, order_id, target, STATUS_WAIT_S)
    if status != target and target not in REACHABLE.get(status, frozenset()):
        raise Conflict(f"The order became {status} before the change to {target} applied")
    order = await read_order(pool, order_id, identity)
    return order, order.status == target


async def wait_for_status(pool: asyncpg.Pool, order_id: uuid.UUID, target: str,
                          timeout_s: float) -> str:
    """Poll until the order is `target` or can no longer become it; returns the last status."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        async with pool.acquire() as conn:
            status = await repository.get_status(conn, order_id)
        assert status is not None
        if status == target or target not in REACHABLE[status] or status in FINAL_STATUSES:
            return status
        if time.monotonic() >= deadline:
            return status
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.2)


# -- the workflow's writes -------------------------------------------------------------------
@dataclass(frozen=True)
class Transition:
    applied: bool  # False when the order was not in an expected status
    status: str  # the status after the call


async def transition(pool: asyncpg.Pool, order_id: uuid.UUID, to: str, expected: list[str],
                     reason: str | None) -> Transition:
    """Guarded status change with its history row and outbox event, in one transaction.

    Safe to run twice: the second run finds the status already applied and changes nothing.
    """
    at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        row = await repository.update_status(conn, order_id, to, expected, reason, at)
        if row is None:
            current = await repository.get_status(conn, order_id)
            if current is None:
                raise NotFound(f"No order {order_id}")
            return Transition(applied=current == to, status=current)
        await repository.add_history(conn, order_id, to, reason, at)
        items = await repository.get_items(conn, [order_id])
        payload = event_payload(row, items, status=to, reason=reason, at=at)
        await OUTBOX.add(conn, EVENT_FOR_STATUS[to], msgspec.json.encode(payload).decode(),
                         key=order_id)
    return Transition(applied=True, status=to)
