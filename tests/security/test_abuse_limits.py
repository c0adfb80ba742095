"""Login and registration limits through the gateway (counted in the Dapr state store).

The local stack sets a short window (dapr/dapr.yaml, env of the users app) so a tripped
limit recovers within seconds; these tests read the same values. Each test sends its own
X-Forwarded-For address (the gateway trusts it from loopback, like from its load balancer)
so its per-address counters are its own.
"""

from __future__ import annotations

import asyncio
import random

import httpx

from tests.conftest import Customer, is_problem, stack, unique_email

PASSWORD = "correct horse battery staple"
DEFAULTS = {"USERS_RATE_WINDOW_SECONDS": 900, "USERS_LOGIN_FAILURES_PER_ACCOUNT": 5,
            "USERS_LOGIN_FAILURES_PER_IP": 20, "USERS_REGISTRATIONS_PER_ACCOUNT": 5}


def _setting(name: str) -> int:
    return int(stack.app_by_id("users").env.get(name, DEFAULTS[name]))


def _address() -> dict[str, str]:
    return {"X-Forwarded-For": f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"}


async def _login(gateway: httpx.AsyncClient, email: str, password: str,
                 headers: dict[str, str]) -> httpx.Response:
    return await gateway.post("/api/users/login", json={"email": email, "password": password},
                              headers=headers)


def _retry_after(r: httpx.Response) -> int:
    body = is_problem(r, 429)
    assert body["title"] == "Too many requests"
    value = int(r.headers["retry-after"])
    assert 1 <= value <= _setting("USERS_RATE_WINDOW_SECONDS")
    return value


async def test_failed_logins_per_account_lock_then_recover(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    assert _setting("USERS_RATE_WINDOW_SECONDS") <= 10, "needs the short local window"
    limit = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    for _ in range(limit):
        # A new address each time: this is the per-account counter.
        is_problem(await _login(gateway, customer.email, "wrong guess!", _address()), 401)
    locked = await _login(gateway, customer.email, PASSWORD, _address())
    wait = _retry_after(locked)  # even the right password waits out the window
    await asyncio.sleep(wait + 0.2)
    r = await _login(gateway, customer.email, PASSWORD, _address())
    assert r.status_code == 200, r.text


async def test_failed_logins_per_address_lock_then_recover(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    limit = _setting("USERS_LOGIN_FAILURES_PER_IP")
    address = _address()
    for i in range(limit):
        # A client-sent x-client-ip is not passed on: it cannot spread the count.
        spoofed = {**address, "x-client-ip": f"10.9.8.{i}"}
        is_problem(await _login(gateway, unique_email("spray"), "password1", spoofed), 401)
    # Another account from the same address is refused too; another address is not.
    wait = _retry_after(await _login(gateway, customer.email, PASSWORD, address))
    assert (await _login(gateway, customer.email, PASSWORD, _address())).status_code == 200
    await asyncio.sleep(wait + 0.2)
    assert (await _login(gateway, customer.email, PASSWORD, address)).status_code == 200


async def test_registration_attempts_per_account_are_limited(
        gateway: httpx.AsyncClient) -> None:
    limit = _setting("USERS_REGISTRATIONS_PER_ACCOUNT")
    email = unique_email("reglimit")
    statuses = []
    for _ in range(limit):
        r = await gateway.post("/api/users/register", headers=_address(),
                               json={"email": email, "password": PASSWORD, "name": "R"})
        statuses.append(r.status_code)
    assert statuses == [201] + [409] * (limit - 1)
    r = await gateway.post("/api/users/register", headers=_address(),
                           json={"email": email, "password": PASSWORD, "name": "R"})
    _retry_after(r)
