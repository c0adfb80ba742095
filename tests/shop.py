"""Driving the shop through the gateway, for the tests that need a product, a customer or
an order: create a product with stock, mint customers, place orders and wait for them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from tests.conftest import Customer

ORDERS = "/api/orders"
ADDRESS = {"name": "Ada Lovelace", "line1": "12 Analytical Way", "city": "London",
           "postal_code": "N1 9GU", "country": "GB"}


def mint_customer(secrets: dict[str, str]) -> Customer:
    """A customer identity signed with the platform's real key, as users would issue it.

    Used where a test needs many distinct customers at once (registering a hundred would
    time the users service's password hashing instead of checkout).
    """
    key = serialization.load_pem_private_key(secrets["jwt-private-key"].encode(), None)
    user_id, now = str(uuid.uuid4()), int(time.time())
    email = f"buyer-{user_id[:8]}@example.com"
    token = jwt.encode({"iss": "ecommerce-users", "aud": "ecommerce-api", "sub": user_id,
                        "role": "customer", "email": email, "iat": now, "exp": now + 900,
                        "jti": uuid.uuid4().hex}, key, algorithm="ES256",  # type: ignore[arg-type]
                       headers={"kid": secrets["jwt-key-id"], "typ": "at+jwt"})
    return Customer({"id": user_id, "email": email}, token, None)


async def create_product(gateway: httpx.AsyncClient, admin: dict[str, str], *, price: str,
                         stock: int, name: str = "Widget") -> str:
    r = await gateway.post("/api/products", headers=admin, json={
        "name": f"{name} {uuid.uuid4().hex[:6]}", "price": price, "category": "test",
        "description": "made by the tests", "stock": stock})
    assert r.status_code == 201, r.text
    product_id: str = r.json()["id"]
    await wait_stock(gateway, product_id, lambda s: s["on_hand"] == stock)
    return product_id


async def stock_of(gateway: httpx.AsyncClient, product_id: str) -> dict[str, Any]:
    """The product's public stock levels (and their invariant)."""
    r = await gateway.get(f"/api/inventory/{product_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["available"] == body["on_hand"] - body["reserved"]
    return body


async def wait_stock(gateway: httpx.AsyncClient, product_id: str, ok: Any,
                     timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await gateway.get(f"/api/inventory/{product_id}")
        if r.status_code == 200 and ok(r.json()):
            body: dict[str, Any] = r.json()
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"stock of {product_id} never matched: {r.status_code} {r.text}")
        await asyncio.sleep(0.1)


def order_body(*lines: tuple[str, int], **extra: Any) -> dict[str, Any]:
    return {"items": [{"product_id": p, "quantity": q} for p, q in lines],
            "shipping_address": ADDRESS, **extra}


async def place(gateway: httpx.AsyncClient, who: Customer, *lines: tuple[str, int],
                **extra: Any) -> dict[str, Any]:
    r = await gateway.post(ORDERS, headers=who.headers, json=order_body(*lines, **extra))
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    assert order["status"] == "pending"
    return order


async def wait_order(gateway: httpx.AsyncClient, headers: dict[str, str], order_id: str,
                     statuses: set[str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await gateway.get(f"{ORDERS}/{order_id}", headers=headers)
        assert r.status_code == 200, r.text
        order: dict[str, Any] = r.json()
        if order["status"] in statuses:
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} is {order['status']}, wanted {statuses}")
        await asyncio.sleep(0.1)


async def change(gateway: httpx.AsyncClient, headers: dict[str, str], order_id: str,
                 status: str) -> httpx.Response:
    return await gateway.patch(f"{ORDERS}/{order_id}/status", headers=headers,
                               json={"status": status})
