"""API1:2023 Broken Object Level Authorization: an object of someone else is a 404, the same
as a missing one, for reads and for writes; ownership is enforced in the query itself."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Customer, is_problem, register_customer
from tests.shop import ORDERS, change, create_product, place


async def test_another_customers_order_is_404_to_read_and_to_cancel(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="3.00", stock=5, name="Bola")
    order = await place(gateway, customer, (product, 1))
    stranger = await register_customer(gateway, "Stranger")
    missing = is_problem(await gateway.get(f"{ORDERS}/{uuid.uuid4()}",
                                           headers=stranger.headers), 404)
    theirs = is_problem(await gateway.get(f"{ORDERS}/{order['id']}",
                                          headers=stranger.headers), 404)
    assert theirs["title"] == missing["title"]  # nothing tells "exists" from "missing"
    is_problem(await change(gateway, stranger.headers, order["id"], "cancelled"), 404)
    listed = (await gateway.get(ORDERS, headers=stranger.headers)).json()
    assert order["id"] not in {o["id"] for o in listed["items"]}
    # the owner still sees it, untouched
    r = await gateway.get(f"{ORDERS}/{order['id']}", headers=customer.headers)
    assert r.status_code == 200 and r.json()["status"] != "cancelled"


async def test_another_shoppers_basket_cannot_be_reached_by_its_product(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    """Baskets have no id in the path at all: each caller reaches only their own."""
    guest = (await gateway.post("/api/basket/guest")).json()["token"]
    mine = await gateway.get("/api/basket", headers=customer.headers)
    theirs = await gateway.get("/api/basket", headers={"x-basket-token": guest})
    assert mine.status_code == 200 and theirs.status_code == 200
    forged = await gateway.get("/api/basket", headers={"x-basket-token": guest[:-2] + "xx"})
    assert forged.status_code in (401, 404), forged.text
