"""The payments service on the real stack: charges and refunds through the orders sidecar
(the only caller allowed), counted in the payments database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.payments.service import digest
from tests.conftest import database, invoker, is_problem, sidecar_url, stack


@pytest.fixture(scope="module")
async def orders(dapr_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Invokes payments as the orders app does (through the orders sidecar)."""
    async with invoker("orders", "payments", dapr_headers) as client:
        yield client


db = database("payments")


def charge_body(**over: Any) -> dict[str, Any]:
    body = {"idempotency_key": f"test-{uuid.uuid4()}", "order_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()), "amount": "42.50", "currency": "USD",
            "payment_method": "tok_visa"}
    body.update(over)
    return body


async def charge(orders: httpx.AsyncClient, **over: Any) -> dict[str, Any]:
    body = charge_body(**over)
    r = await orders.post("/internal/charges", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def refund(orders: httpx.AsyncClient, charge_id: str, amount: Any,
                 key: str | None = None) -> httpx.Response:
    return await orders.post("/internal/refunds", json={
        "idempotency_key": key or f"refund-{uuid.uuid4()}", "charge_id": charge_id,
        "amount": amount})


# -- charges --------------------------------------------------------------------------------
async def test_a_charge_succeeds_and_a_repeat_returns_the_first_result(
        orders: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    body = charge_body(amount=19.99)
    first = await orders.post("/internal/charges", json=body)
    assert first.status_code == 200, first.text
    got = first.json()
    assert got == {"charge_id": got["charge_id"], "order_id": body["order_id"],
                   "status": "succeeded", "amount": "19.99", "currency": "USD",
                   "refunded_amount": "0.00"}
    # The amount as a string or a number is the same request.
    again = await orders.post("/internal/charges", json={**body, "amount": "19.99"})
    assert again.status_code == 200 and again.json() == got
    row = await db.fetchrow("SELECT amount, status, order_id, user_id FROM charges "
                            "WHERE idempotency_key = $1", body["idempotency_key"])
    assert row["amount"] == Decimal("19.99") and row["status"] == "succeeded"
    assert str(row["user_id"]) == body["user_id"]


@pytest.mark.parametrize("change", [{"amount": "19.98"}, {"payment_method": "tok_mastercard"},
                                    {"currency": "EUR"}, {"order_id": str(uuid.uuid4())},
                                    {"user_id": str(uuid.uuid4())}])
async def test_the_same_key_with_another_body_is_422(orders: httpx.AsyncClient,
                                                     db: asyncpg.Pool,
                                                     change: dict[str, str]) -> None:
    body = charge_body(amount="19.99")
    assert (await orders.post("/internal/charges", json=body)).status_code == 200
    is_problem(await orders.post("/internal/charges", json={**body, **change}), 422)
    assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == 1


async def test_20_concurrent_identical_charges_make_one_row(orders: httpx.AsyncClient,
                                                            db: asyncpg.Pool) -> None:
    body = charge_body(amount="99.99")
    results = await asyncio.gather(*(orders.post("/internal/charges", json=body)
                                     for _ in range(20)))
    assert [r.status_code for r in results] == [200] * 20, [r.text for r in results]
    assert len({r.json()["charge_id"] for r in results}) == 1
    assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == 1
    assert await db.fetchval("SELECT count(*) FROM charges WHERE order_id = $1",
                             uuid.UUID(body["order_id"])) == 1


@pytest.mark.parametrize(("method", "reason"), [("tok_decline", "card_declined"),
                                                ("tok_insufficient_funds", "insufficient_funds")])
async def test_sandbox_declines_are_deterministic(orders: httpx.AsyncClient, db: asyncpg.Pool,
                                                  method: str, reason: str) -> None:
    body = charge_body(payment_method=method)
    for _ in range(2):
        r = await orders.post("/internal/charges", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "declined"
        assert r.json()["decline_reason"] == reason
    assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == 1


async def test_charge_can_be_read_back(orders: httpx.AsyncClient) -> None:
    got = await charge(orders)
    r = await orders.get(f"/internal/charges/{got['charge_id']}")
    assert r.status_code == 200 and r.json() == got
    is_problem(await orders.get(f"/internal/charges/{uuid.uuid4()}"), 404)


async def test_a_charge_left_pending_by_a_crash_is_finished_once_by_the_retry(
        orders: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    """A request that claimed the key and died before storing the provider's answer leaves
    a pending row; the retry takes it over (the provider is idempotent per key)."""
    body = charge_body(amount="7.00")
    request_hash = digest(body["order_id"], body["user_id"], "7.00", "USD", "tok_visa")
    charge_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO charges (id, idempotency_key, order_id, user_id, amount, currency, "
        "payment_method, status, provider, request_hash, attempted_at) VALUES "
        "($1, $2, $3, $4, 7.00, 'USD', 'tok_visa', 'pending', 'sandbox', $5, "
        " now() - interval '1 minute')",
        charge_id, body["idempotency_key"], uuid.UUID(body["order_id"]),
        uuid.UUID(body["user_id"]), request_hash)
    results = await asyncio.gather(*(orders.post("/internal/charges", json=body)
                                     for _ in range(5)))
    assert [r.status_code for r in results] == [200] * 5, [r.text for r in results]
    assert {r.json()["charge_id"] for r in results} == {str(charge_id)}
    assert {r.json()["status"] for r in results} == {"succeeded"}
    assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == 1


async def test_a_fresh_pending_charge_is_not_taken_over(orders: httpx.AsyncClient,
                                                        db: asyncpg.Pool) -> None:
    """While the first request may still be talking to the provider, a repeat waits and
    then asks the caller to retry; it never calls the provider a second time."""
    body = charge_body(amount="7.00")
    request_hash = digest(body["order_id"], body["user_id"], "7.00", "USD", "tok_visa")
    await db.execute(
        "INSERT INTO charges (id, idempotency_key, order_id, user_id, amount, currency, "
        "payment_method, status, provider, request_hash) VALUES "
        "($1, $2, $3, $4, 7.00, 'USD', 'tok_visa', 'pending', 'sandbox', $5)",
        uuid.uuid4(), body["idempotency_key"], uuid.UUID(body["order_id"]),
        uuid.UUID(body["user_id"]), request_hash)
    r = await orders.post("/internal/charges", json=body)
    assert is_problem(r, 409)["code"] == "charge_in_progress"
    assert await db.fetchval("SELECT status FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == "pending"


# -- refunds --------------------------------------------------------------------------------
async def test_refunds_are_idempotent_and_never_exceed_the_charge(
        orders: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    got = await charge(orders, amount="30.00")
    key = f"refund-{uuid.uuid4()}"
    first = await refund(orders, got["charge_id"], "20.00", key)
    assert first.status_code == 200, first.text
    assert first.json() == {"refund_id": first.json()["refund_id"],
                            "charge_id": got["charge_id"], "status": "succeeded",
                            "amount": "20.00"}
    assert (await refund(orders, got["charge_id"], 20, key)).json() == first.json()
    is_problem(await refund(orders, got["charge_id"], "5.00", key), 422)
    body = is_problem(await refund(orders, got["charge_id"], "10.01"), 409)
    assert body["code"] == "refund_exceeds_charge" and body["refundable"] == "10.00"
    assert (await refund(orders, got["charge_id"], "10.00")).status_code == 200
    is_problem(await refund(orders, got["charge_id"], "0.01"), 409)
    assert await db.fetchval("SELECT refunded_amount FROM charges WHERE id = $1",
                             uuid.UUID(got["charge_id"])) == Decimal("30.00")
    assert await db.fetchval("SELECT sum(amount) FROM refunds WHERE charge_id = $1",
                             uuid.UUID(got["charge_id"])) == Decimal("30.00")


async def test_concurrent_refunds_with_different_keys_never_exceed_the_charge(
        orders: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    got = await charge(orders, amount="10.00")
    results = await asyncio.gather(*(refund(orders, got["charge_id"], "3.00")
                                     for _ in range(20)))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 3 and codes.count(409) == 17, codes
    assert await db.fetchval("SELECT sum(amount) FROM refunds WHERE charge_id = $1",
                             uuid.UUID(got["charge_id"])) == Decimal("9.00")


async def test_20_concurrent_identical_refunds_make_one_row(orders: httpx.AsyncClient,
                                                            db: asyncpg.Pool) -> None:
    got = await charge(orders, amount="10.00")
    key = f"refund-{uuid.uuid4()}"
    results = await asyncio.gather(*(refund(orders, got["charge_id"], "10.00", key)
                                     for _ in range(20)))
    assert [r.status_code for r in results] == [200] * 20, [r.text for r in results]
    assert len({r.json()["refund_id"] for r in results}) == 1
    assert await db.fetchval("SELECT count(*) FROM refunds WHERE charge_id = $1",
                             uuid.UUID(got["charge_id"])) == 1


async def test_a_declined_charge_cannot_be_refunded(orders: httpx.AsyncClient,
                                                    db: asyncpg.Pool) -> None:
    got = await charge(orders, payment_method="tok_decline")
    body = is_problem(await refund(orders, got["charge_id"], "1.00"), 409)
    assert body["code"] == "charge_not_refundable"
    assert await db.fetchval("SELECT count(*) FROM refunds WHERE charge_id = $1",
                             uuid.UUID(got["charge_id"])) == 0


async def test_refund_of_an_unknown_charge_is_404(orders: httpx.AsyncClient) -> None:
    is_problem(await refund(orders, str(uuid.uuid4()), "1.00"), 404)


async def test_the_database_refuses_refunds_beyond_the_charge(orders: httpx.AsyncClient,
                                                              db: asyncpg.Pool) -> None:
    """The invariants hold even for SQL that bypasses the service."""
    got = await charge(orders, amount="5.00")
    charge_id = uuid.UUID(got["charge_id"])
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE charges SET refunded_amount = 5.01 WHERE id = $1", charge_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("INSERT INTO refunds (id, idempotency_key, charge_id, amount, status, "
                         "request_hash) VALUES ($1, $2, $3, 5.01, 'succeeded', 'x')",
                         uuid.uuid4(), f"sql-{uuid.uuid4()}", charge_id)


# -- access control -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["internal/charges", "internal/refunds"])
@pytest.mark.parametrize("caller", ["gateway", "products", "inventory", "users"])
async def test_only_orders_reaches_payments(caller: str, path: str,
                                            dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(headers=dapr_headers, timeout=30) as c:
        r = await c.post(f"{sidecar_url(caller)}/v1.0/invoke/payments/method/{path}",
                         headers={"dapr-caller-app-id": "orders"}, json=charge_body())
    is_problem(r, 403)


@pytest.mark.parametrize("path", ["/api/payments/../internal/charges",
                                  "/api/payments/%2e%2e/%2e%2e/internal/charges",
                                  "/api/payments/internal/charges", "/internal/charges"])
async def test_the_gateway_does_not_expose_payments(path: str, db: asyncpg.Pool) -> None:
    body = charge_body()
    async with httpx.AsyncClient(timeout=30) as c:
        req = c.build_request("POST", stack.GATEWAY_URL, json=body)
        req.url = req.url.copy_with(raw_path=path.encode())
        r = await c.send(req)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)
    assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                             body["idempotency_key"]) == 0


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("change", [
    {"amount": "0"}, {"amount": 0}, {"amount": "-1.00"}, {"amount": "1.001"},
    {"amount": "abc"}, {"amount": "NaN"}, {"amount": "Infinity"}, {"amount": "1e9"},
    {"amount": "100000000.00"}, {"amount": None}, {"amount": True}, {"amount": []},
    {"currency": "usd"}, {"currency": "US"}, {"currency": ""},
    {"payment_method": "visa"}, {"payment_method": "tok_"}, {"payment_method": ""},
    {"payment_method": "x" * 500},
    {"order_id": "not-a-uuid"}, {"user_id": 12}, {"idempotency_key": ""},
    {"idempotency_key": "has space"}, {"idempotency_key": "k" * 201},
    {"status": "succeeded"}, {"charge_id": str(uuid.uuid4())},
], ids=lambda c: json.dumps(c)[:40])
async def test_bad_charges_are_4xx_problems(orders: httpx.AsyncClient, db: asyncpg.Pool,
                                            change: dict[str, Any]) -> None:
    body = charge_body(**change)
    r = await orders.post("/internal/charges", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)
    if isinstance(body.get("idempotency_key"), str):
        assert await db.fetchval("SELECT count(*) FROM charges WHERE idempotency_key = $1",
                                 body["idempotency_key"]) == 0


@pytest.mark.parametrize("field", ["idempotency_key", "order_id", "user_id", "amount",
                                   "currency", "payment_method"])
async def test_every_charge_field_is_required(orders: httpx.AsyncClient, field: str) -> None:
    body = charge_body()
    del body[field]
    is_problem(await orders.post("/internal/charges", json=body), 400)


@pytest.mark.parametrize("body", [
    {"charge_id": str(uuid.uuid4()), "amount": "1.00"},
    {"idempotency_key": "k", "charge_id": "nope", "amount": "1.00"},
    {"idempotency_key": "k", "charge_id": str(uuid.uuid4()), "amount": "0"},
    {"idempotency_key": "k", "charge_id": str(uuid.uuid4()), "amount": "-5"},
    {"idempotency_key": "k", "charge_id": str(uuid.uuid4()), "amount": "1.005"},
    {"idempotency_key": "k", "charge_id": str(uuid.uuid4()), "amount": "1", "extra": 1},
], ids=lambda b: json.dumps(b)[:50])
async def test_bad_refunds_are_4xx_problems(orders: httpx.AsyncClient, body: Any) -> None:
    r = await orders.post("/internal/refunds", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)


@pytest.mark.parametrize("raw", [b"{", b"[]", b"", b"\"x\"", b"\xff"])
async def test_malformed_json_is_a_4xx_problem(orders: httpx.AsyncClient, raw: bytes) -> None:
    for path in ("/internal/charges", "/internal/refunds"):
        r = await orders.post(path, content=raw, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        is_problem(r)
