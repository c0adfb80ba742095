"""The orders service's use cases behind its HTTP routes: place an order, read orders, ask
for a status change.

Placing an order stores it first (order, lines, first history row and its `order.created`
outbox row, in one statement) and schedules its workflow second; the reconciler
(checkout/reconciler.py) schedules a workflow for any pending order left without one by a
crash in between. Status changes asked for through the API are raised as events into the
order's workflow, which is the only writer of an order's status (lifecycle.transition).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc  # type: ignore[import-untyped]
import msgspec
import structlog

from services.common.auth import Identity
from services.common.dapr import Sidecar
from services.common.errors import Conflict, Forbidden, NotFound, Unavailable
from services.common.money import fmt
from services.common.outbox import encode_payload
from services.orders import idempotency, lifecycle, pricing, repository, status_requests
from services.orders.checkout import client, reconciler
from services.orders.checkout.client import WorkflowClient
from services.orders.checkout.payloads import StatusRequest
from services.orders.outbox import OUTBOX
from services.orders.schemas import (
    FINAL_STATUSES,
    OrderCreate,
    OrderItemRead,
    OrderPage,
    OrderRead,
    StatusEntry,
)
from services.orders.settings import OrdersSettings

log = structlog.get_logger(__name__)

# How long PATCH /status waits for the workflow to apply a change before answering 202.
STATUS_WAIT_S = 5.0


@dataclass(frozen=True)
class Created:
    order: OrderRead
    replayed: bool


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
        user_email=row["user_email"], carrier=row["carrier"],
        tracking_number=row["tracking_number"], charge_id=row["charge_id"],
        refund_id=row["refund_id"],
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


class OrdersService:
    """The orders use cases over the app's pool, sidecar and workflow client."""

    def __init__(self, pool: asyncpg.Pool, sidecar: Sidecar, workflows: WorkflowClient,
                 settings: OrdersSettings | None = None) -> None:
        self.pool = pool
        self.sidecar = sidecar
        self.workflows = workflows
        self.settings = settings or OrdersSettings()

    # -- reads ---------------------------------------------------------------------------------
    async def read(self, order_id: uuid.UUID, identity: Identity) -> OrderRead:
        """The order if the caller owns it or is an admin; NotFound otherwise (even if it
        exists)."""
        async with self.pool.acquire() as conn:
            row = await repository.get_order(
                conn, order_id, owner=None if identity.is_admin else identity.user_id)
            if row is None:
                raise NotFound(f"No order {order_id}")
            return (await _hydrate(conn, [row]))[0]

    async def list_orders(self, identity: Identity, *, page: int, page_size: int,
                          status: str | None, since: datetime | None = None,
                          until: datetime | None = None,
                          user_id: uuid.UUID | None = None) -> OrderPage:
        """Newest first: the caller's orders; an admin's are everyone's, or `user_id`'s."""
        owner = (user_id if identity.is_admin else identity.user_id)
        async with self.pool.acquire() as conn:
            rows, total = await repository.list_orders(
                conn, owner=owner, status=status, since=since, until=until,
                limit=page_size, offset=(page - 1) * page_size)
            return OrderPage(items=await _hydrate(conn, rows), total=total, page=page,
                             page_size=page_size)

    # -- placing an order ------------------------------------------------------------------------
    async def create(self, identity: Identity, body: OrderCreate,
                     idempotency_key: str | None) -> Created:
        if self.settings.require_verified_email and not identity.email_verified:
            raise Forbidden("Verify your e-mail address before placing an order (see the "
                            "link we sent; POST /api/users/verify-email/resend for a new one)")
        lines = pricing.merge_lines(body)
        digest = idempotency.request_hash(lines, body) if idempotency_key else None
        if idempotency_key:
            async with self.pool.acquire() as conn:
                existing = await repository.find_by_idempotency_key(conn, identity.user_id,
                                                                   idempotency_key)
            if existing is not None:
                return await self._replay(existing, digest)

        catalog = await pricing.fetch_catalog(self.sidecar, [pid for pid, _ in lines])
        priced, total = pricing.price_lines(lines, catalog)
        order_id = uuid.uuid4()
        now = datetime.now(UTC)
        created_event = lifecycle.event_payload(
            {"id": order_id, "user_id": identity.user_id, "user_email": identity.email,
             "total": total, "currency": pricing.CURRENCY},
            [{"product_id": ln.product_id, "name": ln.name, "quantity": ln.quantity,
              "unit_price": ln.unit_price, "line_total": ln.line_total} for ln in priced],
            status="pending", reason=None, at=now)
        new = repository.NewOrder(
            id=order_id, user_id=identity.user_id, user_email=identity.email,
            currency=pricing.CURRENCY, total=total, payment_method=body.payment_method,
            shipping_address_json=msgspec.json.encode(body.shipping_address).decode(),
            idempotency_key=idempotency_key, request_hash=digest, lines=priced,
            created_event=lifecycle.EVENT_FOR_STATUS["pending"],
            created_payload_json=encode_payload(created_event), created_at=now)
        async with self.pool.acquire() as conn:
            # Also marks the workflow start requested: this request schedules it, below.
            inserted = await repository.insert_order(conn, new)
            if not inserted:
                assert idempotency_key is not None  # only the idempotency key can conflict
                existing = await repository.find_by_idempotency_key(conn, identity.user_id,
                                                                   idempotency_key)
        if not inserted:
            if existing is None:  # pragma: no cover - the conflicting row cannot vanish
                raise Conflict("The order for this Idempotency-Key could not be read back")
            return await self._replay(existing, digest)

        await client.schedule(self.workflows, order_id)
        # What was just committed; no need to read it back.
        return Created(replayed=False, order=OrderRead(
            id=order_id, user_id=identity.user_id, status="pending", cancel_reason=None,
            total=fmt(total), currency=pricing.CURRENCY, payment_method=body.payment_method,
            shipping_address=msgspec.to_builtins(body.shipping_address),
            items=[OrderItemRead(product_id=ln.product_id, name=ln.name, quantity=ln.quantity,
                                 unit_price=fmt(ln.unit_price), line_total=fmt(ln.line_total))
                   for ln in priced],
            history=[StatusEntry(status="pending", at=now)], created_at=now, updated_at=now))

    async def _replay(self, row: asyncpg.Record, digest: str | None) -> Created:
        if idempotency.check_replay(row, digest):
            try:
                # A missing workflow is started here; a stalled one is the reconciler's to
                # replace (terminate, purge, start again: not work for a retried POST).
                await reconciler.ensure_workflow(self.pool, self.workflows, row["id"],
                                                 may_restart=False)
            except Exception as exc:  # the order exists; the reconciler starts it later
                log.warning("replay_workflow_check_failed", order_id=str(row["id"]),
                            error=repr(exc))
        async with self.pool.acquire() as conn:
            fresh = await repository.get_order(conn, row["id"])
            assert fresh is not None
            return Created(order=(await _hydrate(conn, [fresh]))[0], replayed=True)

    # -- status requests -----------------------------------------------------------------------
    async def request_status(self, identity: Identity, order_id: uuid.UUID, target: str,
                             shipment: status_requests.Shipment | None = None,
                             ) -> tuple[OrderRead, bool]:
        """Raise the requested change into the order's workflow and wait briefly for it.

        Returns the order and whether the change is already visible (200) or still being
        applied by the workflow (202).
        """
        async with self.pool.acquire() as conn:
            row = await repository.get_order(
                conn, order_id, owner=None if identity.is_admin else identity.user_id)
        if row is None:
            raise NotFound(f"No order {order_id}")
        current: str = row["status"]
        lifecycle.can_request(current, target, is_admin=identity.is_admin)
        async with self.pool.acquire() as conn:  # who asked: read back by the transition
            await status_requests.record(conn, order_id, target, identity, shipment)
        request = StatusRequest(by="customer" if row["user_id"] == identity.user_id else "admin",
                                user_id=str(identity.user_id))
        try:
            await client.request_status(self.workflows, order_id, target, request)
        except (TimeoutError, grpc.RpcError) as exc:
            log.warning("workflow_event_failed", order_id=str(order_id), error=repr(exc))
            raise Unavailable("The order workflow cannot be reached; try again") from exc
        status = await self.wait_for_status(order_id, target, STATUS_WAIT_S)
        if status != target and target not in lifecycle.REACHABLE.get(status, frozenset()):
            raise Conflict(f"The order became {status} before the change to {target} applied")
        order = await self.read(order_id, identity)
        return order, order.status == target

    async def wait_for_status(self, order_id: uuid.UUID, target: str,
                              timeout_s: float) -> str:
        """Poll until the order is `target` or can no longer become it; returns the last
        status."""
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        while True:
            async with self.pool.acquire() as conn:
                status = await repository.get_status(conn, order_id)
            assert status is not None
            if (status == target or target not in lifecycle.REACHABLE[status]
                    or status in FINAL_STATUSES):
                return status
            if time.monotonic() >= deadline:
                return status
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    async def publish_created(self) -> None:
        """After a new order's commit: wake the relay that publishes order.created."""
        await OUTBOX.publish_committed(self.pool, self.sidecar)
