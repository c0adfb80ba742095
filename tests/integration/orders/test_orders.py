"""Checkout on the real stack, through the gateway: the order workflow over inventory
reservations and payments, idempotency, no oversell, compensations and access rules.

Counts of charges and refunds are read from the payments database itself, and events from
the orders outbox, so "one charge" and "published" are facts, not answers of the API under
test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Customer, database, is_problem, metric, stack
from tests.shop import (
    ADDRESS,
    ORDERS,
    change,
    create_product,
    mint_customer,
    order_body,
    place,
    stock_of,
    wait_order,
    wait_stock,
)

FINAL = {"delivered", "cancelled"}


payments_db = database("payments")
orders_db = database("orders")


async def charges(db: asyncpg.Pool, order_id: str) -> Counter[str]:
    rows = await db.fetch("SELECT status FROM charges WHERE order_id = $1", uuid.UUID(order_id))
    return Counter(r["status"] for r in rows)


async def refunds(db: asyncpg.Pool, order_id: str) -> list[asyncpg.Record]:
    return list(await db.fetch(
        "SELECT r.amount, r.status FROM refunds r JOIN charges c ON c.id = r.charge_id"
        " WHERE c.order_id = $1", uuid.UUID(order_id)))


async def published(db: asyncpg.Pool, order_id: str,
                    timeout: float = 10.0) -> list[str]:
    """The order's events, once every one of them has been published."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch("SELECT event_type, published_at FROM order_outbox"
                              " WHERE order_id = $1 ORDER BY id", uuid.UUID(order_id))
        if all(r["published_at"] is not None for r in rows) or time.monotonic() > deadline:
            assert all(r["published_at"] is not None for r in rows), rows
            return [r["event_type"] for r in rows]
        await asyncio.sleep(0.1)


# -- the happy path ---------------------------------------------------------------------------
async def test_happy_path_status_by_status_with_server_computed_totals(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool, orders_db: asyncpg.Pool) -> None:
    mug = await create_product(gateway, admin_headers, price="12.50", stock=10, name="Mug")
    pen = await create_product(gateway, admin_headers, price="3.25", stock=10, name="Pen")

    # A client-sent price or total is refused outright (inputs reject unknown fields) ...
    for forged in (order_body((mug, 1), total="0.01"),
                   {"items": [{"product_id": mug, "quantity": 1, "price": "0.01"}],
                    "shipping_address": ADDRESS},
                   order_body((mug, 1), status="delivered")):
        is_problem(await gateway.post(ORDERS, headers=customer.headers, json=forged), 400)

    # ... and the totals of an accepted order come from the catalog (duplicates merged).
    order = await place(gateway, customer, (mug, 1), (pen, 3), (mug, 1))
    assert order["total"] == "34.75"
    assert order["currency"] == "USD"
    assert sorted((i["quantity"], i["unit_price"], i["line_total"]) for i in order["items"]) == [
        (2, "12.50", "25.00"), (3, "3.25", "9.75")]
    assert order["user_id"] == customer.id
    assert [h["status"] for h in order["history"]] == ["pending"]

    order = await wait_order(gateway, customer.headers, order["id"], {"processing", "cancelled"})
    assert order["status"] == "processing", order
    assert (await stock_of(gateway, mug))["reserved"] == 2
    assert await charges(payments_db, order["id"]) == {"succeeded": 1}
    listed = (await gateway.get(ORDERS, headers=customer.headers)).json()
    assert [o["id"] for o in listed["items"]] == [order["id"]] and listed["total"] == 1

    r = await change(gateway, admin_headers, order["id"], "shipped")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "shipped"
    assert await stock_of(gateway, mug) == {"product_id": mug, "on_hand": 8, "reserved": 0,
                                            "available": 8}
    r = await change(gateway, admin_headers, order["id"], "delivered")
    assert r.status_code == 200, r.text
    final = r.json()
    assert final["status"] == "delivered" and final["total"] == "34.75"
    assert [h["status"] for h in final["history"]] == ["pending", "processing", "shipped",
                                                       "delivered"]
    stamps = [h["at"] for h in final["history"]]
    assert stamps == sorted(stamps)
    assert await published(orders_db, order["id"]) == [
        "order.created", "order.confirmed", "order.shipped", "order.delivered"]
    assert await charges(payments_db, order["id"]) == {"succeeded": 1}
    assert await refunds(payments_db, order["id"]) == []


# -- concurrency -----------------------------------------------------------------------------
async def test_no_oversell_under_100_concurrent_orders(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], secrets: dict[str, str],
        payments_db: asyncpg.Pool) -> None:
    product = await create_product(gateway, admin_headers, price="5.00", stock=10, name="Rare")
    buyers = [mint_customer(secrets) for _ in range(100)]
    responses = await asyncio.gather(*(
        gateway.post(ORDERS, headers=b.headers, json=order_body((product, 1))) for b in buyers))
    assert [r.status_code for r in responses] == [201] * 100, {r.text for r in responses}

    # "never negative" needs no watcher: inventory's CHECK (reserved <= on_hand) makes a
    # negative availability impossible to commit (services/inventory/migrations/0001).
    finals = await asyncio.gather(*(
        wait_order(gateway, b.headers, r.json()["id"], {"processing", "cancelled"}, 60)
        for b, r in zip(buyers, responses, strict=True)))
    outcome = Counter((o["status"], o["cancel_reason"]) for o in finals)
    assert outcome == {("processing", None): 10, ("cancelled", "out_of_stock"): 90}
    assert await stock_of(gateway, product) == {"product_id": product, "on_hand": 10,
                                                "reserved": 10, "available": 0}
    paid = await payments_db.fetchval(
        "SELECT count(*) FROM charges WHERE order_id = ANY($1::uuid[]) AND status = 'succeeded'",
        [uuid.UUID(o["id"]) for o in finals])
    assert paid == 10


async def test_one_idempotency_key_makes_one_order_and_one_charge(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool) -> None:
    product = await create_product(gateway, admin_headers, price="7.00", stock=50)
    key = f"checkout-{uuid.uuid4()}"
    headers = {**customer.headers, "Idempotency-Key": key}
    body = order_body((product, 2))
    responses = await asyncio.gather(*(gateway.post(ORDERS, headers=headers, json=body)
                                       for _ in range(20)))
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    assert [r.status_code for r in responses].count(201) == 1
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    order_id = ids.pop()
    await wait_order(gateway, customer.headers, order_id, {"processing"})

    again = await gateway.post(ORDERS, headers=headers, json=body)
    assert again.status_code == 200 and again.json()["id"] == order_id
    assert again.json()["status"] == "processing"
    other = await gateway.post(ORDERS, headers=headers, json=order_body((product, 3)))
    assert "different request" in is_problem(other, 422)["detail"]

    listed = (await gateway.get(ORDERS, headers=customer.headers)).json()
    assert listed["total"] == 1
    assert await charges(payments_db, order_id) == {"succeeded": 1}
    assert (await stock_of(gateway, product))["reserved"] == 2
    # The same key is the customer's own: another customer may use it too.
    assert (await gateway.post(ORDERS, headers={**admin_headers, "Idempotency-Key": key},
                               json=body)).status_code == 201


# -- compensations ---------------------------------------------------------------------------
async def test_declined_payment_releases_stock_and_cancels(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool, orders_db: asyncpg.Pool) -> None:
    product = await create_product(gateway, admin_headers, price="9.99", stock=5)
    order = await place(gateway, customer, (product, 2), payment_method="tok_decline")
    order = await wait_order(gateway, customer.headers, order["id"], FINAL)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "payment_declined")
    assert [h["status"] for h in order["history"]] == ["pending", "cancelled"]
    assert order["history"][-1]["reason"] == "payment_declined"
    assert await stock_of(gateway, product) == {"product_id": product, "on_hand": 5,
                                                "reserved": 0, "available": 5}
    assert await charges(payments_db, order["id"]) == {"declined": 1}
    assert await published(orders_db, order["id"]) == ["order.created", "order.cancelled"]


async def test_out_of_stock_cancels_without_charging(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool) -> None:
    scarce = await create_product(gateway, admin_headers, price="1.00", stock=1)
    plenty = await create_product(gateway, admin_headers, price="1.00", stock=100)
    order = await place(gateway, customer, (plenty, 5), (scarce, 2))
    order = await wait_order(gateway, customer.headers, order["id"], FINAL)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "out_of_stock")
    assert (await stock_of(gateway, plenty))["available"] == 100  # all or nothing
    assert (await stock_of(gateway, scarce))["available"] == 1
    assert await charges(payments_db, order["id"]) == {}


async def test_cancel_right_after_placing_never_keeps_money_or_stock(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool) -> None:
    product = await create_product(gateway, admin_headers, price="4.00", stock=3)
    order = await place(gateway, customer, (product, 3))
    r = await change(gateway, customer.headers, order["id"], "cancelled")
    assert r.status_code in (200, 202), r.text
    order = await wait_order(gateway, customer.headers, order["id"], FINAL)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "cancelled_by_customer")
    await wait_stock(gateway, product, lambda s: s["available"] == 3 and s["reserved"] == 0)
    charged = await charges(payments_db, order["id"])
    # Depending on where the workflow was, it never charged, or charged and refunded.
    assert charged.get("succeeded", 0) == len(await refunds(payments_db, order["id"])) <= 1


async def test_a_cancel_asked_for_while_stock_is_being_reserved_is_never_charged(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool) -> None:
    """The checkout reserves and charges in one activity (workflow.PLACE_IN_ONE): between
    the two it looks for a cancel already asked for. Inventory is frozen (SIGSTOP) so the
    cancel lands while the reservation hangs; the order must end cancelled by the customer
    with nothing charged, not charged and refunded."""
    product = await create_product(gateway, admin_headers, price="6.00", stock=2)
    inventory = int((stack.RUN / "inventory.pid").read_text())
    os.kill(inventory, signal.SIGSTOP)
    try:
        order = await place(gateway, customer, (product, 2))
        r = await change(gateway, customer.headers, order["id"], "cancelled")
        assert r.status_code in (200, 202), r.text
    finally:
        os.kill(inventory, signal.SIGCONT)
    order = await wait_order(gateway, customer.headers, order["id"], FINAL)
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "cancelled_by_customer")
    assert [h["status"] for h in order["history"]] == ["pending", "cancelled"]
    assert await charges(payments_db, order["id"]) == {}
    await wait_stock(gateway, product, lambda s: s["available"] == 2 and s["reserved"] == 0)


async def test_cancel_after_payment_refunds_and_releases(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        payments_db: asyncpg.Pool, orders_db: asyncpg.Pool) -> None:
    product = await create_product(gateway, admin_headers, price="15.00", stock=4)
    order = await place(gateway, customer, (product, 3))
    await wait_order(gateway, customer.headers, order["id"], {"processing"})
    assert (await stock_of(gateway, product))["available"] == 1

    r = await change(gateway, customer.headers, order["id"], "cancelled")
    assert r.status_code == 200, r.text
    order = r.json()
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "cancelled_by_customer")
    assert [h["status"] for h in order["history"]] == ["pending", "processing", "cancelled"]
    assert await stock_of(gateway, product) == {"product_id": product, "on_hand": 4,
                                                "reserved": 0, "available": 4}
    assert await charges(payments_db, order["id"]) == {"succeeded": 1}
    assert [(r["amount"], r["status"]) for r in await refunds(payments_db, order["id"])] == [
        (Decimal("45.00"), "succeeded")]
    assert await published(orders_db, order["id"]) == [
        "order.created", "order.confirmed", "order.cancelled"]
    is_problem(await change(gateway, customer.headers, order["id"], "cancelled"), 409)


# -- rules -------------------------------------------------------------------------------------
async def test_invalid_transitions_are_409_and_roles_are_enforced(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="2.00", stock=5)
    order = await place(gateway, customer, (product, 1))
    oid = order["id"]
    await wait_order(gateway, customer.headers, oid, {"processing"})

    is_problem(await change(gateway, customer.headers, oid, "shipped"), 403)
    is_problem(await change(gateway, admin_headers, oid, "delivered"), 409)
    is_problem(await change(gateway, admin_headers, oid, "pending"), 409)
    is_problem(await change(gateway, admin_headers, oid, "processing"), 409)
    is_problem(await change(gateway, admin_headers, oid, "lost"), 400)
    r = await gateway.patch(f"{ORDERS}/{oid}/status", headers=admin_headers,
                            json={"status": "shipped", "reason": "x"})
    is_problem(r, 400)

    assert (await change(gateway, admin_headers, oid, "shipped")).json()["status"] == "shipped"
    is_problem(await change(gateway, admin_headers, oid, "shipped"), 409)
    is_problem(await change(gateway, customer.headers, oid, "cancelled"), 409)
    is_problem(await change(gateway, admin_headers, oid, "cancelled"), 409)
    assert (await change(gateway, admin_headers, oid, "delivered")).status_code == 200
    is_problem(await change(gateway, admin_headers, oid, "cancelled"), 409)


async def test_another_customers_order_is_404_and_admins_see_all(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str],
        secrets: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="2.00", stock=5)
    order = await place(gateway, customer, (product, 1))
    stranger = mint_customer(secrets)
    is_problem(await gateway.get(f"{ORDERS}/{order['id']}", headers=stranger.headers), 404)
    is_problem(await change(gateway, stranger.headers, order["id"], "cancelled"), 404)
    is_problem(await gateway.get(f"{ORDERS}/{uuid.uuid4()}", headers=customer.headers), 404)
    assert (await gateway.get(ORDERS, headers=stranger.headers)).json()["total"] == 0

    seen = await gateway.get(f"{ORDERS}/{order['id']}", headers=admin_headers)
    assert seen.status_code == 200 and seen.json()["user_id"] == customer.id
    page = (await gateway.get(ORDERS, headers=admin_headers,
                              params={"page_size": 1, "page": 1})).json()
    assert page["page_size"] == 1 and len(page["items"]) == 1 and page["total"] >= 1
    is_problem(await gateway.get(ORDERS, headers=admin_headers, params={"page_size": 1000}), 400)
    is_problem(await gateway.get(ORDERS), 401)


@pytest.mark.parametrize(("name", "body", "status"), [
    ("no items", {"items": [], "shipping_address": ADDRESS}, 400),
    ("quantity 0", "q0", 400),
    ("negative quantity", "q-1", 400),
    ("huge quantity", "q1000000", 400),
    ("quantity as text", "qtext", 400),
    ("51 lines", "lines51", 400),
    ("merged over the cap", "merged", 422),
    ("unknown product", "unknown", 422),
    ("no address", "noaddress", 400),
    ("bad country", "country", 400),
    ("payment method not a token", "paymethod", 400),
    ("not an object", [1, 2, 3], 400),
])
async def test_bad_input_is_a_4xx_problem(gateway: httpx.AsyncClient, customer: Customer,
                                          admin_headers: dict[str, str], name: str, body: Any,
                                          status: int) -> None:
    product = str(uuid.uuid4())
    if body in ("q0", "q-1", "q1000000", "qtext"):
        qty: Any = body[1:]
        qty = qty if qty == "text" else int(qty)
        body = order_body((product, qty))
    elif body == "lines51":
        body = {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(51)],
                "shipping_address": ADDRESS}
    elif body == "merged":
        body = order_body((product, 600), (product, 600))
    elif body == "unknown":
        body = order_body((product, 1))
    elif body == "noaddress":
        body = {"items": [{"product_id": product, "quantity": 1}]}
    elif body == "country":
        body = order_body((product, 1))
        body["shipping_address"] = {**ADDRESS, "country": "Great Britain"}
    elif body == "paymethod":
        body = order_body((product, 1), payment_method="4242424242424242")
    r = await gateway.post(ORDERS, headers=customer.headers, json=body)
    is_problem(r, status)


async def test_malformed_json_and_missing_token(gateway: httpx.AsyncClient,
                                                customer: Customer) -> None:
    r = await gateway.post(ORDERS, headers={**customer.headers,
                                            "content-type": "application/json"},
                           content=b'{"items": [')
    assert 400 <= r.status_code < 500
    is_problem(r)
    is_problem(await gateway.post(ORDERS, json=order_body((str(uuid.uuid4()), 1))), 401)
    r = await gateway.post(ORDERS, headers={**customer.headers, "Idempotency-Key": "x" * 300},
                           json=order_body((str(uuid.uuid4()), 1)))
    is_problem(r, 400)


# -- the scheduler's share (dapr/runtime/patches/0002) -------------------------------------------
SCHEDULER_METRICS = "http://127.0.0.1:16091/metrics"


async def _scheduler_jobs_held() -> float:
    """Jobs the scheduler holds: created minus triggered minus deleted (its own counters)."""
    created, triggered, deleted = [
        await metric(SCHEDULER_METRICS, f"dapr_scheduler_jobs_{what}_total")
        for what in ("created", "triggered", "deleted")]
    return created - triggered - deleted


async def _settled_jobs_held() -> float:
    """The held-jobs count once it has not moved for half a second (other workflows done)."""
    last, steady_since = await _scheduler_jobs_held(), time.monotonic()
    deadline = steady_since + 15
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = await _scheduler_jobs_held()
        if now != last:
            last, steady_since = now, time.monotonic()
        elif time.monotonic() - steady_since >= 0.5:
            return now
    raise AssertionError("the scheduler's job count never settled")


async def test_an_order_waiting_to_ship_holds_one_scheduler_job(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    """Waiting for `shipped` or `cancel` holds the 30-day deadline only: the two waits
    without a timeout get no reminder (without the patch daprd stores one each, due in the
    year 9999, for as long as the order is open)."""
    product = await create_product(gateway, admin_headers, price="1.00", stock=50)
    before = await _settled_jobs_held()
    orders = [await place(gateway, customer, (product, 1)) for _ in range(5)]
    for order in orders:
        await wait_order(gateway, customer.headers, order["id"], {"processing"})
    # the turn after `processing` creates the waits' timers: wait for the count to settle
    held = await _settled_jobs_held() - before
    # One deadline per order; 15 or more would mean the waits hold reminders again. A job of
    # some other workflow still finishing is the slack.
    assert 5 <= held <= 8, held
    for order in orders:
        await change(gateway, customer.headers, order["id"], "cancelled")


async def test_a_value_the_database_cannot_hold_is_a_422(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    """A NUL character passes the schema but no text or jsonb column takes it: the shared
    handler (services/common/errors.py) answers 422, and no order is made."""
    product = await create_product(gateway, admin_headers, price="2.00", stock=5)
    body = order_body((product, 1))
    body["shipping_address"] = {**ADDRESS, "name": "Ada\u0000Lovelace"}
    is_problem(await gateway.post(ORDERS, headers=customer.headers, json=body), 422)
    mine = await gateway.get(ORDERS, headers=customer.headers)
    assert mine.json()["total"] == 0
