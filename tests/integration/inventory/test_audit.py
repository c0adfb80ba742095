"""Stock set by an admin is recorded by inventory, with the admin and on_hand before and
after; stock that moves with orders (reservations, shipments) is not an admin write."""

from __future__ import annotations

import httpx

from tests.conftest import Customer, is_problem
from tests.integration.products.test_audit import admin_identity, trail
from tests.shop import create_product, place, wait_order


async def test_setting_stock_is_recorded_and_orders_are_not(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    me = await admin_identity(gateway, admin_headers)
    product_id = await create_product(gateway, admin_headers, price="5.00", stock=3)
    r = await gateway.put(f"/api/inventory/{product_id}", headers=admin_headers,
                          json={"on_hand": 12})
    assert r.status_code == 200, r.text
    order = await place(gateway, customer, (product_id, 2))
    await wait_order(gateway, customer.headers, order["id"], {"processing"})

    entries = await trail(gateway, admin_headers, "inventory", entity_id=product_id)
    # The initial stock came from products (no admin request reached inventory): only the
    # admin's own change is there, and the reservation is not.
    assert [(e["action"], e["before"], e["after"]) for e in entries] == [
        ("stock.set", {"on_hand": 3}, {"on_hand": 12})]
    assert entries[0]["actor_id"] == me["id"] and entries[0]["actor_email"] == me["email"]
    assert entries[0]["service"] == "inventory" and entries[0]["entity"] == "stock"


async def test_the_stock_trail_is_for_admins(gateway: httpx.AsyncClient,
                                             customer: Customer) -> None:
    is_problem(await gateway.get("/api/inventory/audit"), 401)
    is_problem(await gateway.get("/api/inventory/audit", headers=customer.headers), 403)
