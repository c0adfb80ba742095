"""Login, password-check and registration limits through the gateway.

The local stack sets a short window (dapr/dapr.yaml, env of the users app) so a tripped
limit recovers within seconds; these tests read the same values. A test that needs a client
of its own connects from its own loopback address (tests/clients.py): the gateway believes
no X-Forwarded-For in the local stack, so a header cannot make a new client.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.clients import client_from, new_address
from tests.conftest import Customer, is_problem, register_customer, stack, unique_email

PASSWORD = "correct horse battery staple"
DEFAULTS = {"USERS_RATE_WINDOW_SECONDS": 900, "USERS_LOGIN_FAILURES_PER_ACCOUNT": 5,
            "USERS_LOGIN_FAILURES_PER_IP": 20, "USERS_REGISTRATIONS_PER_ACCOUNT": 5,
            "USERS_LOGIN_FAILURES_PER_ACCOUNT_TOTAL": 50}


def _setting(name: str) -> int:
    return int(stack.app_by_id("users").env.get(name, DEFAULTS[name]))


async def _login(client: httpx.AsyncClient, email: str, password: str,
                 headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/api/users/login", json={"email": email, "password": password},
                             headers=headers)


def _retry_after(r: httpx.Response) -> int:
    body = is_problem(r, 429)
    assert body["title"] == "Too many requests"
    value = int(r.headers["retry-after"])
    assert 1 <= value <= 3600
    return value


async def test_rotating_forwarded_for_cannot_dodge_the_address_limit(
        gateway: httpx.AsyncClient) -> None:
    """The issue's spray: one client, a new X-Forwarded-For on every failed login. Before
    the fix uvicorn believed the header from loopback and none of the 30 got a 429."""
    limit = _setting("USERS_LOGIN_FAILURES_PER_IP")
    statuses = []
    for _ in range(30):
        spoofed = {"X-Forwarded-For": f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"}
        r = await _login(gateway, unique_email("spray"), "password1", spoofed)
        statuses.append(r.status_code)
    assert statuses == [401] * limit + [429] * (30 - limit), statuses
    # Leave the suite's own address (127.0.0.1) as it was: wait out the window.
    r = await _login(gateway, unique_email("spray"), "password1")
    if r.status_code == 429:
        await asyncio.sleep(_retry_after(r) + 0.2)


@pytest.fixture
def proxied_gateway(secrets: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A second gateway (8180) that trusts one proxy address, as compose trusts its nginx and
    Helm the ingress range (FORWARDED_ALLOW_IPS): its URL and the proxy's address."""
    proxy = new_address()
    (second,) = stack.start_replicas("gateway", 2,
                                     app_env={"FORWARDED_ALLOW_IPS": f"{proxy}/32"})
    try:
        yield f"http://127.0.0.1:{second.port}", proxy
    finally:
        stack.stop_app(second, secrets)


def _somewhere() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


async def test_a_trusted_proxy_names_the_client_and_nobody_else_can(
        proxied_gateway: tuple[str, str]) -> None:
    """Behind a trusted proxy each shopper counts as itself (the right-most address of
    X-Forwarded-For that is not a proxy, whatever the client put to its left); from any
    other peer the header is ignored."""
    url, proxy = proxied_gateway
    limit = _setting("USERS_LOGIN_FAILURES_PER_IP")
    tries = limit + 5

    async def codes(address: str, forwarded_for: list[str]) -> list[int]:
        async with client_from(address, base_url=url) as peer:
            return [(await _login(peer, unique_email("proxied"), "password1",
                                  {"X-Forwarded-For": value})).status_code
                    for value in forwarded_for]

    # Many shoppers behind the proxy: none is limited by the others' failures.
    assert await codes(proxy, [_somewhere() for _ in range(tries)]) == [401] * tries
    # One shopper behind the proxy, choosing a new left-hand address each time: still one.
    shopper = _somewhere()
    spoofing = [f"{_somewhere()}, {shopper}" for _ in range(tries)]
    assert await codes(proxy, spoofing) == [401] * limit + [429] * 5
    # A peer that is not the proxy cannot name a client at all.
    direct = await codes(new_address(), [_somewhere() for _ in range(tries)])
    assert direct == [401] * limit + [429] * 5


async def test_concurrent_wrong_passwords_get_at_most_the_limit(customer: Customer) -> None:
    """60 wrong passwords at once for one account: at most the limit are even checked
    (before the fix 33 of them were answered 401)."""
    limit = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    async with client_from(limits=httpx.Limits(max_connections=60)) as attacker:
        answers = await asyncio.gather(*(_login(attacker, customer.email, f"guess {i}")
                                         for i in range(60)))
    codes = [r.status_code for r in answers]
    assert codes.count(401) <= limit, codes
    assert codes.count(401) + codes.count(429) == 60, codes


async def test_the_owner_logs_in_while_an_attacker_hammers_the_account(
        customer: Customer) -> None:
    """Failures from another address do not lock the owner out of their own account
    (before the fix the right password was refused for the window)."""
    limit = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    async with client_from() as attacker, client_from() as owner:
        codes = [(await _login(attacker, customer.email, "not it!")).status_code
                 for _ in range(limit + 5)]
        assert codes == [401] * limit + [429] * 5, codes
        r = await _login(owner, customer.email, PASSWORD)
        assert r.status_code == 200, r.text
        # ... and the attacker's address stays locked for that account.
        _retry_after(await _login(attacker, customer.email, PASSWORD))


async def test_guesses_per_account_are_capped_across_addresses(
        gateway: httpx.AsyncClient) -> None:
    """Many addresses together get at most the per-account total of guesses per hour."""
    per_address = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    total = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT_TOTAL")
    victim = await register_customer(gateway)
    failures = 0
    for _ in range(total // per_address + 1):
        async with client_from() as bot:
            for _ in range(per_address):
                r = await _login(bot, victim.email, "botnet guess")
                failures += r.status_code == 401
    assert failures == total
    async with client_from() as fresh:
        _retry_after(await _login(fresh, victim.email, "one more guess"))


async def test_failed_logins_per_account_and_address_lock_then_recover(
        customer: Customer) -> None:
    assert _setting("USERS_RATE_WINDOW_SECONDS") <= 10, "needs the short local window"
    limit = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    async with client_from() as client:
        for _ in range(limit):
            is_problem(await _login(client, customer.email, "wrong guess!"), 401)
        wait = _retry_after(await _login(client, customer.email, PASSWORD))
        await asyncio.sleep(wait + 0.2)
        r = await _login(client, customer.email, PASSWORD)
        assert r.status_code == 200, r.text


async def test_failed_logins_per_address_lock_then_recover(customer: Customer) -> None:
    limit = _setting("USERS_LOGIN_FAILURES_PER_IP")
    address = new_address()
    async with client_from(address) as client, client_from() as elsewhere:
        for i in range(limit):
            # A client-sent x-client-ip is not passed on: it cannot spread the count.
            spoofed = {"x-client-ip": f"10.9.8.{i}"}
            is_problem(await _login(client, unique_email("spray"), "password1", spoofed), 401)
        # Another account from the same address is refused too; another address is not.
        wait = _retry_after(await _login(client, customer.email, PASSWORD))
        assert (await _login(elsewhere, customer.email, PASSWORD)).status_code == 200
        await asyncio.sleep(wait + 0.2)
        assert (await _login(client, customer.email, PASSWORD)).status_code == 200


async def test_concurrent_wrong_current_passwords_are_limited(customer: Customer) -> None:
    """A stolen access token cannot be turned into the password by guessing
    `current_password`: the limit holds under concurrency as for logins."""
    limit = _setting("USERS_LOGIN_FAILURES_PER_ACCOUNT")
    async with client_from(headers=customer.headers,
                           limits=httpx.Limits(max_connections=30)) as thief:
        answers = await asyncio.gather(*(thief.patch(
            "/api/users/profile", json={"current_password": f"guess {i}",
                                        "password": "a whole new password"})
            for i in range(30)))
        codes = [r.status_code for r in answers]
        assert codes.count(422) <= limit, codes
        assert codes.count(422) + codes.count(429) == 30, codes
        r = await thief.patch("/api/users/profile", json={
            "current_password": PASSWORD, "password": "a whole new password"})
        wait = _retry_after(r)  # even the right one waits
        await asyncio.sleep(wait + 0.2)
        r = await thief.patch("/api/users/profile", json={
            "current_password": PASSWORD, "password": "a whole new password"})
        assert r.status_code == 200, r.text


async def test_registration_attempts_per_account_are_limited() -> None:
    limit = _setting("USERS_REGISTRATIONS_PER_ACCOUNT")
    email = unique_email("reglimit")
    statuses = []
    for _ in range(limit):
        async with client_from() as client:
            r = await client.post("/api/users/register",
                                  json={"email": email, "password": PASSWORD, "name": "R"})
        statuses.append(r.status_code)
    assert statuses == [201] + [409] * (limit - 1)
    async with client_from() as client:
        r = await client.post("/api/users/register",
                              json={"email": email, "password": PASSWORD, "name": "R"})
    _retry_after(r)
