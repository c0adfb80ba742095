"""API3:2023 Broken Object Property Level Authorization: a client cannot set a property it
does not own (role, price, total, status) and never reads one it must not (password hash)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Customer, is_problem, unique_email
from tests.shop import ORDERS, create_product, order_body

SECRET_FIELDS = {"password", "password_hash", "hash", "refresh_token_hash"}


@pytest.mark.parametrize(("field", "value"), [("role", "admin"), ("id", "x"),
                                         ("email_verified", True)])
async def test_registration_refuses_properties_the_client_does_not_own(
        gateway: httpx.AsyncClient, field: str, value: object) -> None:
    r = await gateway.post("/api/users/register", json={
        "email": unique_email("mass"), "password": "correct horse battery staple",
        "name": "Mass Assign", field: value})
    body = is_problem(r, 400)
    assert field in body["detail"]


async def test_user_objects_never_carry_a_secret(gateway: httpx.AsyncClient,
                                                customer: Customer,
                                                admin_headers: dict[str, str]) -> None:
    profile = (await gateway.get("/api/users/profile", headers=customer.headers)).json()
    listed = (await gateway.get("/api/users", params={"search": customer.email},
                                headers=admin_headers)).json()["items"]
    for user in (profile, *listed):
        assert not SECRET_FIELDS & set(user), user
        assert "argon2" not in str(user)


async def test_an_order_cannot_name_its_own_price_total_or_status(
        gateway: httpx.AsyncClient, customer: Customer, admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="9.00", stock=5, name="Prop")
    for extra in ({"total": "0.01"}, {"status": "delivered"}, {"user_id": customer.id}):
        r = await gateway.post(ORDERS, headers=customer.headers,
                               json=order_body((product, 1), **extra))
        is_problem(r, 400)
    body = order_body((product, 1))
    body["items"][0]["unit_price"] = "0.01"
    is_problem(await gateway.post(ORDERS, headers=customer.headers, json=body), 400)
