"""The users service through the gateway on the real stack: accounts, sessions, profile,
administration and input validation."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.clients import client_from
from tests.conftest import ROOT, Customer, is_problem, register_customer, unique_email

PASSWORD = "correct horse battery staple"


async def _login(gateway: httpx.AsyncClient, email: str, password: str = PASSWORD,
                 **kw: object) -> httpx.Response:
    return await gateway.post("/api/users/login", json={"email": email, "password": password},
                              **kw)  # type: ignore[arg-type]


# -- registration and login -------------------------------------------------------------
async def test_register_answers_user_and_tokens_without_secrets(
        gateway: httpx.AsyncClient) -> None:
    email = unique_email("Reg").replace("reg", "ReG")
    r = await gateway.post("/api/users/register",
                           json={"email": f"  {email.upper()} ", "password": PASSWORD,
                                 "name": "  Ada   Lovelace "})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"user", "token", "refresh_token"}
    user = body["user"]
    assert user["email"] == email.lower()
    assert user["name"] == "Ada Lovelace"
    assert user["role"] == "customer"
    assert uuid.UUID(user["id"])
    assert not {"password", "password_hash"} & set(user)
    assert PASSWORD not in r.text and "argon2" not in r.text
    assert body["token"].count(".") == 2 and body["refresh_token"].count(".") == 0


async def test_registration_publishes_user_registered(gateway: httpx.AsyncClient) -> None:
    """The event reaches its subscriber: the notifications service mails a welcome."""
    customer = await register_customer(gateway, name="Welcome Check")

    def find() -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for path in (ROOT / ".local" / "mail").glob("*.eml"):
                if f"To: {customer.email}".encode() in path.read_bytes():
                    return True
            time.sleep(0.3)
        return False

    assert await asyncio.to_thread(find), "no e-mail followed the user.registered event"


async def test_duplicate_email_is_409_whatever_the_case(gateway: httpx.AsyncClient) -> None:
    email = unique_email("dup")
    first = await gateway.post("/api/users/register",
                               json={"email": email, "password": PASSWORD, "name": "One"})
    assert first.status_code == 201
    again = await gateway.post("/api/users/register",
                               json={"email": email.upper(), "password": PASSWORD, "name": "Two"})
    body = is_problem(again, 409)
    assert body["errors"][0]["field"] == "email"


async def test_login_with_any_case_email_and_bad_password(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    ok = await _login(gateway, customer.email.upper())
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["id"] == customer.id
    assert ok.json()["token"] and ok.json()["refresh_token"]
    async with client_from() as elsewhere:  # its failures count for its own address
        bad = await _login(elsewhere, customer.email, "wrong password!")
        unknown = await _login(elsewhere, unique_email("ghost"))
    # The same answer for a wrong password and an unknown account.
    assert is_problem(bad, 401)["detail"] == is_problem(unknown, 401)["detail"]


async def test_admin_from_the_secret_store_can_log_in(
        gateway: httpx.AsyncClient, secrets: dict[str, str], admin_headers: dict[str, str]) -> None:
    r = await gateway.get("/api/users/profile", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == secrets["admin-email"].lower()
    assert r.json()["role"] == "admin"


# -- profile --------------------------------------------------------------------------------
async def test_profile_get_and_rename(gateway: httpx.AsyncClient, customer: Customer) -> None:
    r = await gateway.get("/api/users/profile", headers=customer.headers)
    assert r.status_code == 200 and r.json() == customer.user
    r = await gateway.patch("/api/users/profile", json={"name": "New Name"},
                            headers=customer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "New Name" and r.json()["role"] == "customer"
    assert (await gateway.get("/api/users/profile", headers=customer.headers)).json()[
        "name"] == "New Name"


async def test_password_change_needs_the_current_password(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    new = "a brand new passphrase"
    missing = await gateway.patch("/api/users/profile", json={"password": new},
                                  headers=customer.headers)
    assert is_problem(missing, 422)["errors"][0]["field"] == "current_password"
    wrong = await gateway.patch("/api/users/profile",
                                json={"password": new, "current_password": "not it at all"},
                                headers=customer.headers)
    assert is_problem(wrong, 422)["errors"][0]["field"] == "current_password"
    ok = await gateway.patch("/api/users/profile",
                             json={"password": new, "current_password": PASSWORD},
                             headers=customer.headers)
    assert ok.status_code == 200, ok.text
    async with client_from() as elsewhere:
        is_problem(await _login(elsewhere, customer.email, PASSWORD), 401)
    assert (await _login(gateway, customer.email, new)).status_code == 200
    # The sessions opened before the change are over.
    r = await gateway.post("/api/users/refresh", json={"refresh_token": customer.refresh_token})
    is_problem(r, 401)


@pytest.mark.parametrize("field", ["role", "id", "email", "created_at"])
async def test_profile_update_cannot_set_protected_fields(
        gateway: httpx.AsyncClient, customer: Customer, field: str) -> None:
    r = await gateway.patch("/api/users/profile", json={field: "admin", "name": "Sneaky"},
                            headers=customer.headers)
    body = is_problem(r, 400)
    assert field in body["detail"]
    me = (await gateway.get("/api/users/profile", headers=customer.headers)).json()
    assert me == customer.user  # nothing changed, not even the name


async def test_register_cannot_set_the_role(gateway: httpx.AsyncClient) -> None:
    email = unique_email("massassign")
    r = await gateway.post("/api/users/register", json={
        "email": email, "password": PASSWORD, "name": "Mallory", "role": "admin"})
    assert "role" in is_problem(r, 400)["detail"]
    # Nothing was created; a clean registration gets the customer role.
    r = await gateway.post("/api/users/register",
                           json={"email": email, "password": PASSWORD, "name": "Mallory"})
    assert r.status_code == 201 and r.json()["user"]["role"] == "customer"


# -- refresh and logout -------------------------------------------------------------------
async def test_refresh_rotates_and_reuse_revokes_the_chain(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    first = customer.refresh_token
    r = await gateway.post("/api/users/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    assert second != first and r.json()["user"]["id"] == customer.id
    new_access = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await gateway.get("/api/users/profile", headers=new_access)).status_code == 200
    r = await gateway.post("/api/users/refresh", json={"refresh_token": second})
    assert r.status_code == 200
    third = r.json()["refresh_token"]
    # Replaying the first token: refused, and the live successor dies with it.
    is_problem(await gateway.post("/api/users/refresh", json={"refresh_token": first}), 401)
    is_problem(await gateway.post("/api/users/refresh", json={"refresh_token": third}), 401)


async def test_logout_revokes_the_refresh_token(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    other = await _login(gateway, customer.email)  # a second, independent session
    r = await gateway.post("/api/users/logout", json={"refresh_token": customer.refresh_token})
    assert r.status_code == 204, r.text
    is_problem(await gateway.post("/api/users/refresh",
                                  json={"refresh_token": customer.refresh_token}), 401)
    again = await gateway.post("/api/users/logout",
                               json={"refresh_token": customer.refresh_token})
    assert again.status_code == 204
    r = await gateway.post("/api/users/refresh",
                           json={"refresh_token": other.json()["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_unknown_refresh_token_is_401(gateway: httpx.AsyncClient) -> None:
    is_problem(await gateway.post("/api/users/refresh",
                                  json={"refresh_token": "rt_" + "x" * 43}), 401)


# -- administration -----------------------------------------------------------------------
async def test_admin_lists_users_with_pagination(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    for _ in range(2):
        await register_customer(gateway)
    r = await gateway.get("/api/users", params={"page": 1, "page_size": 2},
                          headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "total", "page", "page_size"}
    assert body["page"] == 1 and body["page_size"] == 2 and len(body["items"]) == 2
    assert body["total"] >= 3
    assert all("password_hash" not in u for u in body["items"])
    last_page = (body["total"] + 1) // 2
    r = await gateway.get("/api/users", params={"page": last_page, "page_size": 2},
                          headers=admin_headers)
    assert 1 <= len(r.json()["items"]) <= 2
    page2 = await gateway.get("/api/users", params={"page": 2, "page_size": 2},
                              headers=admin_headers)
    assert {u["id"] for u in page2.json()["items"]}.isdisjoint(
        {u["id"] for u in body["items"]})
    is_problem(await gateway.get("/api/users", params={"page_size": 1000},
                                 headers=admin_headers), 400)
    is_problem(await gateway.get("/api/users", params={"page": 0}, headers=admin_headers), 400)


async def test_admin_promotes_a_customer(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    r = await gateway.patch(f"/api/users/{customer.id}/role", json={"role": "admin"},
                            headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
    # The new role is in the tokens issued from now on.
    fresh = await _login(gateway, customer.email)
    headers = {"Authorization": f"Bearer {fresh.json()['token']}"}
    assert (await gateway.get("/api/users", headers=headers)).status_code == 200
    is_problem(await gateway.patch(f"/api/users/{customer.id}/role", json={"role": "owner"},
                                   headers=admin_headers), 400)
    is_problem(await gateway.patch(f"/api/users/{uuid.uuid4()}/role", json={"role": "admin"},
                                   headers=admin_headers), 404)


async def test_customer_on_admin_routes_is_403(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    is_problem(await gateway.get("/api/users", headers=customer.headers), 403)
    r = await gateway.patch(f"/api/users/{customer.id}/role", json={"role": "admin"},
                            headers=customer.headers)
    is_problem(r, 403)
    me = await gateway.get("/api/users/profile", headers=customer.headers)
    assert me.json()["role"] == "customer"


async def test_admin_routes_without_a_token_are_401(gateway: httpx.AsyncClient) -> None:
    is_problem(await gateway.get("/api/users"), 401)
    is_problem(await gateway.get("/api/users/profile"), 401)


async def test_jwks_publishes_the_signing_key(
        gateway: httpx.AsyncClient, secrets: dict[str, str]) -> None:
    r = await gateway.get("/api/users/.well-known/jwks.json")
    assert r.status_code == 200
    (key,) = r.json()["keys"]
    assert key["kid"] == secrets["jwt-key-id"]
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
    assert "d" not in key  # never the private part


# -- validation -------------------------------------------------------------------------
def _register_body(**over: object) -> dict[str, object]:
    return {"email": unique_email("val"), "password": PASSWORD, "name": "Val", **over}


@pytest.mark.parametrize(("body", "field", "status"), [
    (_register_body(email="not-an-email"), "email", 422),
    (_register_body(email="a@b"), "email", 422),
    (_register_body(password="short"), "password", 400),
    (_register_body(password="x" * 129), "password", 400),
    (_register_body(name=""), "name", 400),
    (_register_body(name="   "), "name", 422),
    (_register_body(password=12345678), "password", 400),
    (_register_body(nickname="extra"), "nickname", 400),
    ({"email": unique_email(), "name": "No password"}, "password", 400),
])
async def test_register_validation_is_problem_with_the_field(
        gateway: httpx.AsyncClient, body: dict[str, object], field: str, status: int) -> None:
    r = await gateway.post("/api/users/register", json=body)
    problem = is_problem(r, status)
    assert field in problem["detail"]
    assert problem.get("errors"), problem


async def test_malformed_json_and_wrong_content_type(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/users/register", content=b'{"email": ',
                           headers={"content-type": "application/json"})
    is_problem(r, 400)
    r = await gateway.post("/api/users/register", content=b"email=a@b.c&password=x",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    is_problem(r, 415)
    r = await gateway.post("/api/users/login", content=b"[]",
                           headers={"content-type": "application/json"})
    is_problem(r, 400)


async def test_a_nul_character_is_a_422_not_a_server_error(gateway: httpx.AsyncClient) -> None:
    email = unique_email()
    r = await gateway.post("/api/users/register", json={
        "email": email, "password": "a-long-enough-passphrase", "name": "Ada\u0000"})
    is_problem(r, 422)
    # nothing was stored: the same address registers cleanly afterwards
    r = await gateway.post("/api/users/register", json={
        "email": email, "password": "a-long-enough-passphrase", "name": "Ada"})
    assert r.status_code == 201, r.text
    r = await gateway.post("/api/users/login", json={
        "email": "nul\u0000@example.com", "password": "a-long-enough-passphrase"})
    assert r.status_code in (401, 422), r.text
    is_problem(r)
