"""The order workflow's activities: every side effect of the saga, each safe to run twice.

Idempotency is keyed by the order id everywhere: inventory reservations are per order id,
payment charges and refunds carry idempotency keys derived from it, and status changes are
guarded updates with one history row and one outbox event per (order, status).

The activities are `async def`. dapr-ext-workflow 1.18 runs them on the worker's own event
loop (a thread named WorkerRunLoop, created by the durabletask worker), not on the app's
uvicorn loop, so they use their own asyncpg pool and sidecar client, created lazily on the
loop that runs them (`Resources`): an asyncpg pool must never be shared between loops.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import asyncpg
import msgspec
import structlog
from dapr.ext.workflow import WorkflowActivityContext
from dapr.ext.workflow._durabletask.task import NonRetryableError

from services.common import db, telemetry
from services.common.dapr import Sidecar, SidecarResponse
from services.common.money import fmt
from services.common.names import INVENTORY, PAYMENTS
from services.common.settings import Settings
from services.orders import repository, service
from services.orders.outbox import OUTBOX

log = structlog.get_logger(__name__)


# To the local sidecar a few dozen connections are plenty for the activities' loop.
SIDECAR_CONNECTIONS = 24


def lean_sidecar(settings: Settings) -> Sidecar:
    """A sidecar client with a small connection pool (see SIDECAR_CONNECTIONS)."""
    return Sidecar(settings.dapr_http_url, settings.dapr_api_token,
                   max_connections=SIDECAR_CONNECTIONS)


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
        sidecar = lean_sidecar(self._settings)
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
    """Set (or clear) what the activities use; called by the workflow runtime's start/stop."""
    global _resources  # activities are plain functions registered by name
    _resources = resources


async def _deps() -> tuple[asyncpg.Pool, Sidecar]:
    if _resources is None:
        raise RuntimeError("the order activities are not configured")
    return await _resources.get()


def _order_id(payload: dict[str, Any]) -> uuid.UUID:
    """The activity's order id; its calls and events continue the order's trace from here."""
    telemetry.continue_trace(payload.get("trace"))
    return uuid.UUID(str(payload["order_id"]))


async def _order(conn: asyncpg.Pool | asyncpg.Connection, order_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.get_order(conn, order_id)
    if row is None:
        raise NonRetryableError(f"order {order_id} does not exist")
    return row


async def _load(pool: asyncpg.Pool, order_id: uuid.UUID) -> tuple[asyncpg.Record,
                                                                   list[asyncpg.Record]]:
    """The order and its lines."""
    async with pool.acquire() as conn:
        return await _order(conn, order_id), await repository.get_items(conn, [order_id])


def _problem_code(content: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


# -- activities ------------------------------------------------------------------------------
async def reserve_stock(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Reserve every line of the order in inventory, all or nothing.

    Returns {"outcome": "reserved" | "out_of_stock" | "rejected" | "skipped", ...}. "skipped"
    means the order is no longer pending (a workflow re-run must not touch it).
    """
    pool, sidecar = await _deps()
    order_id = _order_id(payload)
    order, items = await _load(pool, order_id)
    if order["status"] != "pending":
        return {"outcome": "skipped", "status": order["status"]}
    r = await sidecar.invoke(INVENTORY, "POST", "internal/reservations", json={
        "order_id": str(order_id),
        "items": [{"product_id": str(i["product_id"]), "quantity": i["quantity"]} for i in items],
    })
    if r.status_code < 300:
        return {"outcome": "reserved"}
    body = _problem_code(r.content)
    if r.status_code == 409 and body.get("code") == "out_of_stock":
        return {"outcome": "out_of_stock",
                "unavailable": [str(p) for p in body.get("unavailable", [])]}
    if 400 <= r.status_code < 500 and r.status_code not in (408, 429) and "errorCode" not in body:
        log.error("reservation_rejected", order_id=str(order_id), status=r.status_code,
                  body=r.text[:300])
        return {"outcome": "rejected", "status_code": r.status_code}
    raise RuntimeError(f"inventory answered {r.status_code}: {r.text[:200]}")


async def _reservation(sidecar: Sidecar, order_id: uuid.UUID, action: str) -> SidecarResponse:
    """POST internal/reservations/{order_id}/{action} to inventory (idempotent there)."""
    return await sidecar.invoke(INVENTORY, "POST", f"internal/reservations/{order_id}/{action}")


async def release_stock(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> None:
    """Give the order's reserved stock back (idempotent; a no-op when nothing is reserved)."""
    _, sidecar = await _deps()
    r = await _reservation(sidecar, _order_id(payload), "release")
    if r.status_code >= 300:
        raise RuntimeError(f"inventory answered {r.status_code} to release: {r.text[:200]}")


async def commit_stock(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> None:
    """Turn the reservation into a shipment (idempotent)."""
    _, sidecar = await _deps()
    r = await _reservation(sidecar, _order_id(payload), "commit")
    if r.status_code >= 300:
        raise RuntimeError(f"inventory answered {r.status_code} to commit: {r.text[:200]}")


def charge_key(order_id: uuid.UUID) -> str:
    return f"order-{order_id}-charge"


def refund_key(order_id: uuid.UUID) -> str:
    return f"order-{order_id}-refund"


async def _confirm_hold(sidecar: Sidecar, order_id: uuid.UUID) -> str:
    """Ask inventory to hold the paid order's units until commit or release (an unconfirmed
    reservation expires). "confirmed", or "lost" when the hold lapsed and the units are gone."""
    r = await _reservation(sidecar, order_id, "confirm")
    if r.status_code < 300:
        return "confirmed"
    if r.status_code == 409 and _problem_code(r.content).get("code"):
        return "lost"
    raise RuntimeError(f"inventory answered {r.status_code} to confirm: {r.text[:200]}")


async def charge_payment(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Charge the order's total once (the idempotency key is derived from the order id),
    and once it is paid, confirm its stock reservation so that it no longer expires; with
    `confirm_order` (workflow.CHARGE_CONFIRMS), then mark the order `processing` as well.

    Returns {"status": "succeeded" | "declined", "charge_id", "decline_reason", "hold",
    "order_status"}. Every step is idempotent, so a re-run gets the same charge, the same
    hold and the same status. They share one activity to save the workflow round trips
    through the engine (each activity is two scheduler jobs and an orchestrator turn).
    """
    pool, sidecar = await _deps()
    order_id = _order_id(payload)
    order = await _order(pool, order_id)
    r = await sidecar.invoke(PAYMENTS, "POST", "internal/charges", json={
        "idempotency_key": charge_key(order_id), "order_id": str(order_id),
        "user_id": str(order["user_id"]), "amount": fmt(order["total"]),
        "currency": order["currency"], "payment_method": order["payment_method"],
    })
    body = _problem_code(r.content)
    if r.status_code < 300:
        status = body.get("status")
        hold = None
        if status == "succeeded":
            async with pool.acquire() as conn:
                await repository.set_charge(conn, order_id, str(body["charge_id"]))
            hold = await _confirm_hold(sidecar, order_id)
        elif status != "declined":
            raise RuntimeError(f"payments answered an unknown charge status {status!r}")
        order_status = None
        if hold == "confirmed" and payload.get("confirm_order"):
            order_status = (await _transition(pool, sidecar, order_id, "processing",
                                              ["pending"])).status
        return {"status": status, "charge_id": body.get("charge_id"),
                "decline_reason": body.get("decline_reason"), "hold": hold,
                "order_status": order_status}
    if r.status_code == 422 and "errorCode" not in body:
        # The provider refused the request itself (e.g. an unusable payment method): nothing
        # was charged, so the order is declined.
        return {"status": "declined", "charge_id": None, "decline_reason": "payment_rejected"}
    raise RuntimeError(f"payments answered {r.status_code}: {r.text[:200]}")


async def refund_payment(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Refund the whole charge once (idempotency key derived from the order id)."""
    pool, sidecar = await _deps()
    order_id = _order_id(payload)
    order = await _order(pool, order_id)
    charge_id = payload.get("charge_id") or order["charge_id"]
    if not charge_id:
        return {"status": "nothing_to_refund"}
    r = await sidecar.invoke(PAYMENTS, "POST", "internal/refunds", json={
        "idempotency_key": refund_key(order_id), "charge_id": charge_id,
        "amount": fmt(order["total"]),
    })
    if r.status_code >= 300:
        raise RuntimeError(f"payments answered {r.status_code} to refund: {r.text[:200]}")
    body = _problem_code(r.content)
    if body.get("refund_id"):
        async with pool.acquire() as conn:
            await repository.set_refund(conn, order_id, str(body["refund_id"]))
    return {"status": body.get("status"), "refund_id": body.get("refund_id")}


async def set_status(ctx: WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Guarded status change + history + outbox in one transaction, then publish the event.

    Run twice, the second run finds the status applied and only re-publishes whatever the
    first run left unpublished (a crash between commit and publish).
    """
    pool, sidecar = await _deps()
    result = await _transition(pool, sidecar, _order_id(payload), payload["to"],
                               list(payload["expected"]), payload.get("reason"))
    return {"applied": result.applied, "status": result.status}


async def _transition(pool: asyncpg.Pool, sidecar: Sidecar, order_id: uuid.UUID, to: str,
                      expected: list[str], reason: str | None = None) -> service.Transition:
    """The status change, committed, then its event published."""
    result = await service.transition(pool, order_id, to, expected, reason)
    await OUTBOX.publish_committed(pool, sidecar, key=order_id)
    return result


ACTIVITIES = {
    "reserve_stock": reserve_stock,
    "release_stock": release_stock,
    "commit_stock": commit_stock,
    "charge_payment": charge_payment,
    "refund_payment": refund_payment,
    "set_status": set_status,
}
