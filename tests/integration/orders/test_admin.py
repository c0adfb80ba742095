"""The orders service for the admin console, on the real stack: the sales figures, the
filters, shipping with a carrier and a tracking number (the shopper sees them, the e-mail
carries them) and the audit of admin status changes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.conftest import Customer, database, is_problem
from tests.integration.products.test_audit import admin_identity, trail
from tests.mail import content, now_ns, wait_for_mail
from tests.shop import ORDERS, change, create_product, place, wait_order

orders_db = database("orders")


async def stats(gateway: httpx.AsyncClient, headers: dict[str, str],
                **params: str) -> dict[str, Any]:
    r = await gateway.get(f"{ORDERS}/stats", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_stats_count_orders_revenue_statuses_and_reasons(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    today = datetime.now(UTC).date().isoformat()
    before = await stats(gateway, admin_headers, **{"from": today, "to": today})
    product_id = await create_product(gateway, admin_headers, price="7.50", stock=10)
    paid = await place(gateway, customer, (product_id, 2))
    declined = await place(gateway, customer, (product_id, 1), payment_method="tok_decline")
    await wait_order(gateway, customer.headers, paid["id"], {"processing"})
    await wait_order(gateway, customer.headers, declined["id"], {"cancelled"})
    after = await stats(gateway, admin_headers, **{"from": today, "to": today})

    assert after["from"] == after["to"] == today and len(after["days"]) == 1
    assert after["orders"] - before["orders"] >= 2
    # Revenue counts paid orders only: the declined one adds nothing.
    assert Decimal(after["revenue"]) - Decimal(before["revenue"]) >= Decimal("15.00")
    assert after["days"][0] == {"date": today, "orders": after["orders"],
                                "revenue": after["revenue"]}
    assert after["by_status"]["processing"] >= before["by_status"]["processing"] + 1
    reasons = {r["reason"]: r["count"] for r in after["cancellation_reasons"]}
    old = {r["reason"]: r["count"] for r in before["cancellation_reasons"]}
    assert reasons["payment_declined"] >= old.get("payment_declined", 0) + 1
    assert set(after["by_status"]) == {"pending", "processing", "shipped", "delivered",
                                       "cancelled"}


async def test_the_default_period_is_30_days_and_bad_periods_are_422(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    body = await stats(gateway, admin_headers)
    today = datetime.now(UTC).date()
    assert len(body["days"]) == 30 and body["to"] == today.isoformat()
    assert body["days"][0]["date"] == (today - timedelta(days=29)).isoformat()
    assert all(d["orders"] >= 0 and Decimal(d["revenue"]) >= 0 for d in body["days"])
    for params, field in (({"from": "2026-13-01"}, "from"), ({"to": "soon"}, "to"),
                          ({"from": "2026-02-02", "to": "2026-02-01"}, "from"),
                          ({"from": "2020-01-01", "to": "2026-01-01"}, "to")):
        r = await gateway.get(f"{ORDERS}/stats", headers=admin_headers, params=params)
        problem = is_problem(r, 422)
        assert problem["errors"][0]["field"] == field, problem


async def test_ship_with_tracking_reaches_the_shopper_the_mail_and_the_audit(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer,
        orders_db: asyncpg.Pool) -> None:
    me = await admin_identity(gateway, admin_headers)
    product_id = await create_product(gateway, admin_headers, price="12.00", stock=5)
    order = await place(gateway, customer, (product_id, 1))
    await wait_order(gateway, customer.headers, order["id"], {"processing"})
    since = now_ns()
    tracking = f"TRK{uuid.uuid4().hex[:10].upper()}"

    # Shipment details go only with `shipped`, and are validated.
    r = await gateway.patch(f"{ORDERS}/{order['id']}/status", headers=admin_headers,
                            json={"status": "delivered", "tracking_number": tracking})
    is_problem(r, 422)
    r = await gateway.patch(f"{ORDERS}/{order['id']}/status", headers=admin_headers,
                            json={"status": "shipped", "carrier": "x" * 101})
    is_problem(r, 400)
    r = await gateway.patch(f"{ORDERS}/{order['id']}/status", headers=admin_headers,
                            json={"status": "shipped", "carrier": "DHL",
                                  "tracking_number": tracking})
    assert r.status_code in (200, 202), r.text
    shipped = await wait_order(gateway, customer.headers, order["id"], {"shipped"})
    assert shipped["carrier"] == "DHL" and shipped["tracking_number"] == tracking
    assert shipped["charge_id"] and shipped["refund_id"] is None
    assert shipped["user_email"] == customer.email

    subject = f"Order {order['id'][:8].upper()} has shipped"  # the body is quoted-printable
    [mail] = await asyncio.to_thread(wait_for_mail, subject, 1, 20.0, since)
    assert mail["To"] == customer.email
    assert "DHL" in content(mail) and tracking in content(mail)
    payload = await orders_db.fetchval(
        "SELECT payload FROM order_outbox WHERE order_id = $1 AND event_type = 'order.shipped'",
        uuid.UUID(order["id"]))
    assert '"tracking_number": "' + tracking in payload

    r = await change(gateway, admin_headers, order["id"], "delivered")
    assert r.status_code in (200, 202), r.text
    await wait_order(gateway, customer.headers, order["id"], {"delivered"})
    entries = await trail(gateway, admin_headers, "orders", entity_id=order["id"])
    # Only what the admin asked for; the workflow's own steps (processing) have no actor.
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [
        ("order.status", {"status": "shipped"},
         {"status": "delivered", "carrier": "DHL", "tracking_number": tracking}),
        ("order.status", {"status": "processing"},
         {"status": "shipped", "carrier": "DHL", "tracking_number": tracking})]
    assert {(e["actor_id"], e["actor_email"], e["entity_label"]) for e in entries} == {
        (me["id"], me["email"], customer.email)}


async def test_a_customers_own_cancel_is_not_an_admin_write_but_an_admins_is(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    product_id = await create_product(gateway, admin_headers, price="3.00", stock=5)
    mine = await place(gateway, customer, (product_id, 1))
    theirs = await place(gateway, customer, (product_id, 1))
    for order in (mine, theirs):
        await wait_order(gateway, customer.headers, order["id"], {"processing"})
    assert (await change(gateway, customer.headers, mine["id"], "cancelled")).status_code \
        in (200, 202)
    assert (await change(gateway, admin_headers, theirs["id"], "cancelled")).status_code \
        in (200, 202)
    await wait_order(gateway, customer.headers, mine["id"], {"cancelled"})
    cancelled = await wait_order(gateway, customer.headers, theirs["id"], {"cancelled"})
    assert cancelled["cancel_reason"] == "cancelled_by_admin" and cancelled["refund_id"]
    assert await trail(gateway, admin_headers, "orders", entity_id=mine["id"]) == []
    [entry] = await trail(gateway, admin_headers, "orders", entity_id=theirs["id"])
    assert entry["before"] == {"status": "processing", "cancel_reason": None}
    assert entry["after"]["status"] == "cancelled"
    assert entry["after"]["cancel_reason"] == "cancelled_by_admin"


async def test_admins_filter_orders_by_day_and_customer(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    product_id = await create_product(gateway, admin_headers, price="2.00", stock=5)
    order = await place(gateway, customer, (product_id, 1))
    today = datetime.now(UTC).date()

    async def ids(headers: dict[str, str], **params: str) -> list[str]:
        r = await gateway.get(ORDERS, headers=headers, params={"page_size": "100", **params})
        assert r.status_code == 200, r.text
        return [o["id"] for o in r.json()["items"]]

    assert await ids(admin_headers, user_id=customer.id) == [order["id"]]
    assert order["id"] in await ids(admin_headers, **{"from": today.isoformat(),
                                                      "to": today.isoformat()})
    assert await ids(admin_headers, user_id=customer.id,
                     to=(today - timedelta(days=1)).isoformat()) == []
    assert await ids(admin_headers, user_id=customer.id,
                     **{"from": (today + timedelta(days=1)).isoformat()}) == []
    # A customer's user_id filter cannot reach anyone else's orders.
    other = await ids(customer.headers, user_id=str(uuid.uuid4()))
    assert other == [order["id"]]
    is_problem(await gateway.get(ORDERS, headers=admin_headers, params={"from": "2026-02-31"}),
               400)


async def test_the_sales_figures_are_for_admins(gateway: httpx.AsyncClient,
                                                customer: Customer) -> None:
    is_problem(await gateway.get(f"{ORDERS}/stats"), 401)
    is_problem(await gateway.get(f"{ORDERS}/stats", headers=customer.headers), 403)
    is_problem(await gateway.get(f"{ORDERS}/audit", headers=customer.headers), 403)
