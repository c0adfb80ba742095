"""Every admin API answers a customer 403 and an anonymous caller 401 (problem+json),
through the gateway: each service enforces its admin routes itself, whatever the console
shows or hides."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Customer, is_problem

SOME_ID = str(uuid.uuid4())
ADMIN_APIS = [
    ("GET", "/api/products/audit", None),
    ("POST", "/api/products", {"name": "x", "price": "1.00", "category": "test"}),
    ("PUT", f"/api/products/{SOME_ID}", {"name": "x", "price": "1.00", "category": "test"}),
    ("PATCH", f"/api/products/{SOME_ID}", {"price": "1.00"}),
    ("DELETE", f"/api/products/{SOME_ID}", None),
    ("GET", "/api/inventory/audit", None),
    ("PUT", f"/api/inventory/{SOME_ID}", {"on_hand": 1}),
    ("GET", "/api/orders/stats", None),
    ("GET", "/api/orders/audit", None),
    ("GET", "/api/users", None),
    ("GET", "/api/users/audit", None),
    ("PATCH", f"/api/users/{SOME_ID}/role", {"role": "admin"}),
    ("GET", "/api/notifications/dead-letters", None),
    ("POST", "/api/notifications/dead-letters/some-event/redeliver", None),
    ("GET", "/api/notifications/audit", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_APIS,
                         ids=[f"{m} {p.replace(SOME_ID, '{id}')}" for m, p, _ in ADMIN_APIS])
async def test_a_customer_gets_403_and_nobody_401(
        gateway: httpx.AsyncClient, customer: Customer, method: str, path: str,
        body: dict[str, object] | None) -> None:
    r = await gateway.request(method, path, headers=customer.headers, json=body)
    is_problem(r, 403)
    r = await gateway.request(method, path, json=body)
    is_problem(r, 401)
