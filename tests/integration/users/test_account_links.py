"""E-mail verification and password reset on the real stack: the links go out through
notifications and the SMTP binding (read back from the sink, tests/mail.py), work once,
expire, and a reset ends every session."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.clients import client_from
from tests.conftest import database, eventually, is_problem, register_customer, unique_email
from tests.mail import link_tokens, messages, now_ns

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a fresh passphrase for the account"
users_db = database("users")


def _token(email: str, page: str, since: int) -> str:
    return link_tokens(email, page, since)[0]


async def _profile(gateway: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await gateway.get("/api/users/profile", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_registration_sends_a_verification_link_that_works_once(
        gateway: httpx.AsyncClient) -> None:
    since = now_ns()
    user = await register_customer(gateway, "Verify Me")
    assert user.user["email_verified"] is False
    token = _token(user.email, "account/verify-email", since)
    r = await gateway.post("/api/users/verify-email", json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["email_verified"] is True and r.json()["id"] == user.id
    assert (await _profile(gateway, user.headers))["email_verified"] is True
    again = await gateway.post("/api/users/verify-email", json={"token": token})
    assert is_problem(again, 422)["errors"][0]["field"] == "token"
    # a new access token says so too (the claim the orders setting reads)
    r = await gateway.post("/api/users/refresh", json={"refresh_token": user.refresh_token})
    assert r.status_code == 200, r.text


async def test_a_resent_link_replaces_the_first(gateway: httpx.AsyncClient) -> None:
    since = now_ns()
    user = await register_customer(gateway, "Lost Mail")
    first = _token(user.email, "account/verify-email", since)
    r = await gateway.post("/api/users/verify-email/resend", headers=user.headers)
    assert r.status_code == 202, r.text
    second = link_tokens(user.email, "account/verify-email", since, 2)[1]
    assert second != first
    is_problem(await gateway.post("/api/users/verify-email", json={"token": first}), 422)
    r = await gateway.post("/api/users/verify-email", json={"token": second})
    assert r.status_code == 200 and r.json()["email_verified"] is True
    is_problem(await gateway.post("/api/users/verify-email/resend", headers=user.headers), 409)


async def test_a_forged_or_reset_token_does_not_verify(gateway: httpx.AsyncClient) -> None:
    for token in ("x" * 43, uuid.uuid4().hex):
        is_problem(await gateway.post("/api/users/verify-email", json={"token": token}), 422)


async def test_password_reset_answers_the_same_for_known_and_unknown_addresses(
        gateway: httpx.AsyncClient) -> None:
    user = await register_customer(gateway, "Forgetful")
    ghost = unique_email("ghost")
    since = now_ns()
    async with client_from() as client:
        known = await client.post("/api/users/password-reset", json={"email": user.email})
        unknown = await client.post("/api/users/password-reset", json={"email": ghost})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert link_tokens(user.email, "account/reset-password", since, 1)
    assert not messages(ghost, since)


async def test_a_reset_link_works_once_and_ends_every_session(
        gateway: httpx.AsyncClient, users_db: Any) -> None:
    user = await register_customer(gateway, "Reset Me")
    since = now_ns()
    async with client_from() as client:
        r = await client.post("/api/users/password-reset", json={"email": user.email})
        assert r.status_code == 202
        [token] = link_tokens(user.email, "account/reset-password", since, 1)
        # valid 30 minutes
        lifetime = await users_db.fetchval(
            "SELECT extract(epoch FROM expires_at - created_at) FROM account_links"
            " WHERE user_id = $1 AND purpose = 'reset_password' ORDER BY created_at DESC"
            " LIMIT 1", uuid.UUID(user.id))
        assert 1790 <= float(lifetime) <= 1810
        is_problem(await client.post("/api/users/password-reset/confirm",
                                     json={"token": token, "password": "short"}), 400)
        r = await client.post("/api/users/password-reset/confirm",
                              json={"token": token, "password": NEW_PASSWORD})
        assert r.status_code == 204, r.text
        again = await client.post("/api/users/password-reset/confirm",
                                  json={"token": token, "password": "yet another password"})
        is_problem(again, 422)
        is_problem(await client.post("/api/users/login", json={
            "email": user.email, "password": PASSWORD}), 401)
        r = await client.post("/api/users/login", json={"email": user.email,
                                                        "password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["email_verified"] is True  # the link proved the mailbox
    is_problem(await gateway.post("/api/users/refresh",
                                  json={"refresh_token": user.refresh_token}), 401)

    async def refused() -> bool:
        got = await gateway.get("/api/users/profile", headers=user.headers)
        return got.status_code == 401
    await eventually(refused, timeout=60, what="the old access token to stop")


async def test_an_expired_reset_link_is_refused(gateway: httpx.AsyncClient,
                                                users_db: Any) -> None:
    user = await register_customer(gateway, "Too Late")
    since = now_ns()
    async with client_from() as client:
        assert (await client.post("/api/users/password-reset",
                                  json={"email": user.email})).status_code == 202
        [token] = link_tokens(user.email, "account/reset-password", since, 1)
        await users_db.execute(
            "UPDATE account_links SET created_at = created_at - interval '31 minutes',"
            " expires_at = expires_at - interval '31 minutes'"
            " WHERE user_id = $1 AND purpose = 'reset_password'", uuid.UUID(user.id))
        is_problem(await client.post("/api/users/password-reset/confirm",
                                     json={"token": token, "password": NEW_PASSWORD}), 422)
        r = await client.post("/api/users/login", json={"email": user.email,
                                                        "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_reset_requests_are_limited_alike_for_known_and_unknown_addresses(
        gateway: httpx.AsyncClient) -> None:
    user = await register_customer(gateway, "Spammed")
    for email in (user.email, unique_email("nobody")):
        async with client_from() as client:
            codes = [(await client.post("/api/users/password-reset",
                                        json={"email": email})).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429], (email, codes)


async def test_the_feed_does_not_show_the_link(gateway: httpx.AsyncClient) -> None:
    since = now_ns()
    user = await register_customer(gateway, "Feed Reader")
    token = _token(user.email, "account/verify-email", since)

    async def listed() -> list[dict[str, Any]] | None:
        r = await gateway.get("/api/notifications", headers=user.headers)
        items = [i for i in r.json()["items"] if i["kind"] == "welcome"]
        return items or None
    # the link came in the welcome e-mail
    [item] = await eventually(listed, what="the welcome e-mail in the feed")
    assert token not in item["body"] and "the link in the e-mail" in item["body"]
