"""The catalog's audit trail on the real stack: every product write through the gateway is
recorded by products itself, in its own database, with the admin who made it and the
changed values before and after; the listing is for admins only."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from tests.conftest import Customer, database, is_problem

products_db = database("products")


async def admin_identity(gateway: httpx.AsyncClient,
                         admin_headers: dict[str, str]) -> dict[str, Any]:
    r = await gateway.get("/api/users/profile", headers=admin_headers)
    assert r.status_code == 200, r.text
    me: dict[str, Any] = r.json()
    return me


async def trail(gateway: httpx.AsyncClient, headers: dict[str, str], service: str,
                **params: str) -> list[dict[str, Any]]:
    r = await gateway.get(f"/api/{service}/audit", headers=headers, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_create_edit_delete_are_recorded_with_the_admin_and_the_change(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    me = await admin_identity(gateway, admin_headers)
    r = await gateway.post("/api/products", headers=admin_headers, json={
        "name": f"Audited lamp {uuid.uuid4().hex[:6]}", "price": "25.00", "category": "test"})
    assert r.status_code == 201, r.text
    product = r.json()
    r = await gateway.patch(f"/api/products/{product['id']}", headers=admin_headers,
                            json={"price": "19.90", "description": "now cheaper"})
    assert r.status_code == 200, r.text
    assert (await gateway.delete(f"/api/products/{product['id']}",
                                 headers=admin_headers)).status_code == 204

    entries = await trail(gateway, admin_headers, "products", entity_id=product["id"])
    assert [e["action"] for e in entries] == ["product.delete", "product.update",
                                              "product.create"]
    deleted, updated, created = entries
    for e in entries:
        assert e["service"] == "products" and e["entity"] == "product"
        assert e["actor_id"] == me["id"] and e["actor_email"] == me["email"]
        assert e["entity_label"] == product["name"]
    assert created["before"] is None
    assert created["after"]["name"] == product["name"] and created["after"]["price"] == "25.00"
    assert updated["before"] == {"price": "25.00", "description": ""}
    assert updated["after"] == {"price": "19.90", "description": "now cheaper"}
    assert deleted["before"] == {"deleted_at": None} and deleted["after"]["deleted_at"]
    assert deleted["at"] >= updated["at"] >= created["at"]

    # Filters: by action (or its prefix), by actor (id or part of the e-mail), by time.
    only = await trail(gateway, admin_headers, "products", entity_id=product["id"],
                       action="product.update")
    assert [e["id"] for e in only] == [updated["id"]]
    assert len(await trail(gateway, admin_headers, "products", entity_id=product["id"],
                           action="product.", actor=me["email"].split("@")[0])) == 3
    assert await trail(gateway, admin_headers, "products", entity_id=product["id"],
                       actor="nobody-like-this") == []
    since_delete = await trail(gateway, admin_headers, "products", entity_id=product["id"],
                               **{"from": deleted["at"]})
    assert [e["id"] for e in since_delete] == [deleted["id"]]
    before_delete = await trail(gateway, admin_headers, "products", entity_id=product["id"],
                                to=deleted["at"])
    assert [e["id"] for e in before_delete] == [updated["id"], created["id"]]


async def test_a_write_that_skips_the_api_is_recorded_too(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str],
        products_db: asyncpg.Pool) -> None:
    """The trigger records what changes the row, however it changes: a write straight to the
    database (no admin request) is there, without an actor."""
    r = await gateway.post("/api/products", headers=admin_headers, json={
        "name": f"Sneaky chair {uuid.uuid4().hex[:6]}", "price": "40.00", "category": "test"})
    product_id = r.json()["id"]
    await products_db.execute("UPDATE products SET price = 1 WHERE id = $1",
                              uuid.UUID(product_id))
    [entry, _] = await trail(gateway, admin_headers, "products", entity_id=product_id)
    assert entry["action"] == "product.update" and entry["actor_id"] is None
    assert entry["before"] == {"price": "40.00"} and entry["after"] == {"price": "1.00"}
    # The stock read model (inventory's events) is no admin write: not recorded.
    await products_db.execute("UPDATE products SET stock_quantity = 7 WHERE id = $1",
                              uuid.UUID(product_id))
    assert len(await trail(gateway, admin_headers, "products", entity_id=product_id)) == 2


async def test_the_trail_is_for_admins_and_bad_filters_are_4xx(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    is_problem(await gateway.get("/api/products/audit"), 401)
    is_problem(await gateway.get("/api/products/audit", headers=customer.headers), 403)
    for params in ({"from": "yesterday"}, {"page_size": "1000"}, {"action": "DROP TABLE"},
                   {"page": "0"}, {"actor": "x" * 300}):
        r = await gateway.get("/api/products/audit", headers=admin_headers, params=params)
        assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
        is_problem(r)
