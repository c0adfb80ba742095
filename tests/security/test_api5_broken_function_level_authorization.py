"""API5:2023 Broken Function Level Authorization: admin functions answer 401 without a token
and 403 to a customer; internal functions are not reachable through the gateway at all."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Customer, is_problem

ADMIN_CALLS = [
    ("POST", "/api/products", {"name": "X", "price": "1.00", "category": "test"}),
    ("DELETE", f"/api/products/{uuid.uuid4()}", None),
    ("GET", "/api/users", None),
    ("PATCH", f"/api/users/{uuid.uuid4()}/role", {"role": "admin"}),
    ("PUT", f"/api/inventory/{uuid.uuid4()}", {"on_hand": 5}),
    ("GET", "/api/notifications/dead-letters", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_admin_functions_are_401_anonymous_and_403_to_customers(
        gateway: httpx.AsyncClient, customer: Customer, method: str, path: str,
        body: object) -> None:
    is_problem(await gateway.request(method, path, json=body), 401)
    is_problem(await gateway.request(method, path, json=body, headers=customer.headers), 403)


async def test_a_customer_cannot_promote_themselves(gateway: httpx.AsyncClient,
                                                   customer: Customer) -> None:
    r = await gateway.patch(f"/api/users/{customer.id}/role", json={"role": "admin"},
                            headers=customer.headers)
    is_problem(r, 403)
    assert (await gateway.get("/api/users/profile",
                              headers=customer.headers)).json()["role"] == "customer"


@pytest.mark.parametrize("path", [
    "/api/inventory/internal/reservations", "/api/payments/internal/charges",
    "/api/products/internal/products/batch", "/api/orders/internal/orders",
])
async def test_internal_functions_are_not_routed_by_the_gateway(
        gateway: httpx.AsyncClient, customer: Customer, path: str) -> None:
    r = await gateway.post(path, json={}, headers=customer.headers)
    assert r.status_code in (401, 403, 404, 405), r.text
    assert r.status_code != 200
