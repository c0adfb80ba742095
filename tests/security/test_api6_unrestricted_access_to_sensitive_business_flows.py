"""API6:2023 Unrestricted Access to Sensitive Business Flows: buying cannot be replayed into
two orders (idempotency), prices come from the catalog alone, and the flows bots abuse
(sign-up, password guessing) have limits (tests/security/test_api2_*)."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.conftest import Customer
from tests.shop import ORDERS, create_product, order_body


async def test_a_replayed_checkout_is_one_order_at_the_catalog_price(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="12.50", stock=10,
                                   name="Flow")
    key = {"Idempotency-Key": f"flow-{uuid.uuid4()}", **customer.headers}
    answers = await asyncio.gather(*(gateway.post(ORDERS, headers=key,
                                                  json=order_body((product, 2)))
                                     for _ in range(5)))
    assert {r.status_code for r in answers} <= {200, 201, 409}, [r.text for r in answers]
    ids = {r.json()["id"] for r in answers if r.status_code in (200, 201)}
    assert len(ids) == 1
    listed = (await gateway.get(ORDERS, headers=customer.headers)).json()["items"]
    assert [o["id"] for o in listed] == list(ids)
    order = (await gateway.get(f"{ORDERS}/{ids.pop()}", headers=customer.headers)).json()
    assert order["total"] == "25.00"


async def test_one_order_cannot_drain_the_stock(gateway: httpx.AsyncClient,
                                                customer: Customer,
                                                admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="1.00", stock=3, name="Hoard")
    r = await gateway.post(ORDERS, headers=customer.headers,
                           json=order_body((product, 10**9)))
    assert 400 <= r.status_code < 500, r.text
