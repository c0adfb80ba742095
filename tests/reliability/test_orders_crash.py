"""Crash durability of checkout: SIGKILL the orders service, or only its sidecar, while
orders are being placed and their workflows are in flight; after the restart every order
ends in a final or waiting state (none lost, none stuck pending) and nothing is charged twice.

The ground truth is the databases: orders from the orders database (including ones whose
POST died with the process after the commit), charges and refunds from the payments one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Customer, stack
from tests.shop import ORDERS, create_product, mint_customer, order_body, stock_of

SETTLED = {"processing", "cancelled"}
SIDECAR_LOG = stack.LOGS / "orders-dapr.log"
# daprd 1.18.2 unregistered the workflow actor types when the app's work-item stream dropped,
# and in-flight workflows stranded until daprd restarted. dapr/runtime/patches/0001 keeps them
# registered; this line in the sidecar's log is that defect coming back.
WEDGED = "orders.workflow not registered"


def log_size() -> int:
    return SIDECAR_LOG.stat().st_size if SIDECAR_LOG.exists() else 0


def sidecar_wedged_since(offset: int) -> bool:
    with SIDECAR_LOG.open("rb") as fh:
        fh.seek(offset)
        return WEDGED.encode() in fh.read()


@pytest.fixture(scope="module")
async def dbs(secrets: dict[str, str]) -> AsyncIterator[tuple[asyncpg.Connection,
                                                              asyncpg.Connection]]:
    orders = await asyncpg.connect(secrets["orders-db-dsn"])
    payments = await asyncpg.connect(secrets["payments-db-dsn"])
    yield orders, payments
    await orders.close()
    await payments.close()


async def _place_many(gateway: httpx.AsyncClient, buyers: list[Customer], product: str,
                      declined: set[int]) -> list[httpx.Response | BaseException]:
    async def one(i: int, who: Customer) -> httpx.Response:
        body = order_body((product, 1),
                          payment_method="tok_decline" if i in declined else "tok_visa")
        return await gateway.post(ORDERS, headers=who.headers, json=body)

    return await asyncio.gather(*(one(i, b) for i, b in enumerate(buyers)),
                                return_exceptions=True)


async def _settle(orders_db: asyncpg.Connection, user_ids: list[uuid.UUID],
                  timeout: float = 90.0) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await orders_db.fetch(
            "SELECT id, user_id, status, cancel_reason, payment_method FROM orders"
            " WHERE user_id = ANY($1::uuid[])", user_ids)
        if all(r["status"] in SETTLED for r in rows) or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.25)


async def _check(gateway: httpx.AsyncClient, dbs: tuple[asyncpg.Connection, asyncpg.Connection],
                 buyers: list[Customer], product: str,
                 responses: list[httpx.Response | BaseException],
                 log_offset: int) -> dict[str, Any]:
    orders_db, payments_db = dbs
    rows = await _settle(orders_db, [uuid.UUID(b.id) for b in buyers])
    stuck = [(str(r["id"]), r["status"]) for r in rows if r["status"] not in SETTLED]
    if stuck and sidecar_wedged_since(log_offset):
        # Heal the shared stack for the tests after this one (a fresh daprd resumes them).
        # A fresh daprd may log the line briefly before the app reconnects; only stuck
        # orders make it the defect.
        await asyncio.to_thread(stack.restart_app, "orders", kill=True)
        pytest.fail(f"daprd lost its workflow actor registration (patch 0001 regressed): "
                    f"{len(stuck)} orders stuck")
    assert not stuck, f"orders not settled after the restart: {stuck}"

    # Every order a client was told about exists (none lost) ...
    acknowledged = {r.json()["id"] for r in responses
                    if isinstance(r, httpx.Response) and r.status_code == 201}
    stored = {str(r["id"]) for r in rows}
    assert acknowledged <= stored
    # ... and no POST made two (daprd retries an invocation whose connection broke; the
    # gateway's own Idempotency-Key turns that replay into a read of the first order).
    per_buyer = Counter(r["user_id"] for r in rows)
    assert max(per_buyer.values(), default=0) <= 1, "one POST created two orders"
    # ... and each ended where its payment method says it should.
    for r in rows:
        if r["payment_method"] == "tok_decline":
            assert (r["status"], r["cancel_reason"]) == ("cancelled", "payment_declined"), r
        else:
            assert r["status"] == "processing", r

    charges = await payments_db.fetch(
        "SELECT c.order_id, c.status, (SELECT count(*) FROM refunds f WHERE f.charge_id = c.id)"
        " AS refunds FROM charges c WHERE c.order_id = ANY($1::uuid[])",
        [r["id"] for r in rows])
    per_order = Counter(c["order_id"] for c in charges)
    assert max(per_order.values(), default=0) <= 1, "an order was charged twice"
    paid = {c["order_id"] for c in charges if c["status"] == "succeeded"}
    assert paid == {r["id"] for r in rows if r["status"] == "processing"}
    assert all(c["refunds"] == 0 for c in charges)

    processing = sum(r["status"] == "processing" for r in rows)
    stock = await stock_of(gateway, product)
    assert stock["reserved"] == processing, (stock, processing)
    # Nothing is left unpublished once the dust settles (the outbox drained).
    ids = [r["id"] for r in rows]
    deadline = time.monotonic() + 15
    unpublished = -1
    while unpublished and time.monotonic() < deadline:
        if unpublished > 0:
            await asyncio.sleep(0.25)
        unpublished = await orders_db.fetchval(
            "SELECT count(*) FROM order_outbox WHERE order_id = ANY($1::uuid[])"
            " AND published_at IS NULL", ids)
    assert unpublished == 0
    return {"orders": len(rows), "acknowledged": len(acknowledged), "processing": processing}


# What is killed (stack.restart_app's switches), how many buyers, which of them decline,
# how long after the first POST, and whether the old worker may have wedged the sidecar
# (only a sidecar that survives the kill can be; one restarted with its app gets no excuse).
CRASHES = [
    pytest.param({"sidecar": False}, 40, set(range(0, 40, 5)), 0.4, True, id="app"),
    pytest.param({"app": False}, 40, set(range(1, 40, 5)), 0.4, True, id="sidecar"),
    pytest.param({}, 30, {2, 7}, 0.3, False, id="app-and-sidecar"),
]


@pytest.mark.parametrize(("kill", "buyer_count", "declined", "after_s", "may_wedge"), CRASHES)
async def test_orders_killed_while_checkouts_are_in_flight(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], secrets: dict[str, str],
        dbs: tuple[asyncpg.Connection, asyncpg.Connection], kill: dict[str, bool],
        buyer_count: int, declined: set[int], after_s: float, may_wedge: bool) -> None:
    product = await create_product(gateway, admin_headers, price="3.00", stock=1000,
                                   name="Crash")
    buyers = [mint_customer(secrets) for _ in range(buyer_count)]
    offset = log_size()
    placing = asyncio.create_task(_place_many(gateway, buyers, product, declined))
    await asyncio.sleep(after_s)  # POSTs and workflows are in flight
    await asyncio.to_thread(stack.restart_app, "orders", kill=True, **kill)
    responses = await placing
    summary = await _check(gateway, dbs, buyers, product, responses,
                           offset if may_wedge else log_size())
    assert summary["orders"] > 0
