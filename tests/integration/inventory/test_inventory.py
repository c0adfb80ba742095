"""The inventory service on the real stack: reservations through the orders sidecar (the
only caller allowed), stock through products' sidecar, public reads through the gateway,
and the access control that keeps everyone else out of /internal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.dapr import Sidecar
from services.inventory.service import InventoryService
from tests.conftest import database, invoker, is_problem, sidecar_url, stack
from tests.shop import stock_of


@pytest.fixture(scope="module")
async def orders(dapr_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Invokes inventory as the orders app does (through the orders sidecar)."""
    async with invoker("orders", "inventory", dapr_headers) as client:
        yield client


@pytest.fixture(scope="module")
async def products(dapr_headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with invoker("products", "inventory", dapr_headers) as client:
        yield client


db = database("inventory")


async def new_product(products: httpx.AsyncClient, on_hand: int) -> str:
    product_id = str(uuid.uuid4())
    r = await products.put(f"/internal/stock/{product_id}", json={"on_hand": on_hand})
    assert r.status_code == 200, r.text
    assert r.json() == {"product_id": product_id, "on_hand": on_hand, "reserved": 0,
                        "available": on_hand}
    return product_id


async def reserve(orders: httpx.AsyncClient, lines: list[tuple[str, int]],
                  order_id: str | None = None) -> httpx.Response:
    body = {"order_id": order_id or str(uuid.uuid4()),
            "items": [{"product_id": p, "quantity": q} for p, q in lines]}
    return await orders.post("/internal/reservations", json=body)


# -- reservations ---------------------------------------------------------------------------
async def test_reservation_holds_stock_and_is_idempotent_per_order(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a, b = await new_product(products, 5), await new_product(products, 3)
    order_id = str(uuid.uuid4())
    for _ in range(3):
        r = await reserve(orders, [(a, 2), (b, 1)], order_id)
        assert r.status_code == 200, r.text
        assert r.json() == {"order_id": order_id, "status": "reserved"}
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 5, "reserved": 2,
                                          "available": 3}
    assert (await stock_of(gateway, b))["reserved"] == 1
    # The same order id with other lines is refused, not merged.
    body = is_problem(await reserve(orders, [(a, 3)], order_id), 422)
    assert "other lines" in body["detail"]
    assert (await stock_of(gateway, a))["reserved"] == 2


async def test_duplicate_lines_of_one_product_are_added_up(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a = await new_product(products, 5)
    assert (await reserve(orders, [(a, 2), (a, 2)])).status_code == 200
    assert (await stock_of(gateway, a))["reserved"] == 4
    body = is_problem(await reserve(orders, [(a, 1), (a, 1)]), 409)
    assert body["unavailable"] == [a]


async def test_all_or_nothing_names_every_unavailable_line(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    plenty, scarce = await new_product(products, 10), await new_product(products, 1)
    unknown = str(uuid.uuid4())
    order_id = str(uuid.uuid4())
    r = await reserve(orders, [(plenty, 3), (scarce, 2), (unknown, 1)], order_id)
    body = is_problem(r, 409)
    assert body["code"] == "out_of_stock"
    assert sorted(body["unavailable"]) == sorted([scarce, unknown])
    # Nothing was held for the line that could have been served.
    assert (await stock_of(gateway, plenty))["reserved"] == 0
    assert (await stock_of(gateway, scarce))["reserved"] == 0
    # A repeat of the failed order stays failed, even though stock has not changed.
    again = is_problem(await reserve(orders, [(plenty, 3), (scarce, 2), (unknown, 1)],
                                     order_id), 409)
    assert again["code"] == "out_of_stock"
    assert sorted(again["unavailable"]) == sorted([scarce, unknown])


async def test_commit_ships_and_release_returns_stock_idempotently(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a = await new_product(products, 10)
    shipped, cancelled = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await reserve(orders, [(a, 3)], shipped)).status_code == 200
    assert (await reserve(orders, [(a, 4)], cancelled)).status_code == 200
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 10, "reserved": 7,
                                          "available": 3}
    for _ in range(2):
        r = await orders.post(f"/internal/reservations/{shipped}/commit")
        assert r.status_code == 200, r.text
        assert r.json() == {"order_id": shipped, "status": "committed"}
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 7, "reserved": 4,
                                          "available": 3}
    for _ in range(2):
        r = await orders.post(f"/internal/reservations/{cancelled}/release")
        assert r.status_code == 200, r.text
        assert r.json() == {"order_id": cancelled, "status": "released"}
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 7, "reserved": 0,
                                          "available": 7}
    # A shipped order cannot be released, a cancelled one cannot be shipped.
    assert is_problem(await orders.post(f"/internal/reservations/{shipped}/release"),
                      409)["code"] == "reservation_committed"
    assert is_problem(await orders.post(f"/internal/reservations/{cancelled}/commit"),
                      409)["code"] == "reservation_released"
    # The repeat of a released order's reservation does not hold stock again.
    r = await reserve(orders, [(a, 4)], cancelled)
    assert r.status_code == 200 and r.json()["status"] == "released"
    assert (await stock_of(gateway, a))["reserved"] == 0


async def test_release_of_unknown_order_is_a_no_op_and_commit_is_404(
        orders: httpx.AsyncClient) -> None:
    order_id = str(uuid.uuid4())
    r = await orders.post(f"/internal/reservations/{order_id}/release")
    assert r.status_code == 200 and r.json() == {"order_id": order_id, "status": "released"}
    is_problem(await orders.post(f"/internal/reservations/{order_id}/commit"), 404)
    is_problem(await orders.post(f"/internal/reservations/{order_id}/confirm"), 404)


async def test_unconfirmed_reservations_expire_and_confirmed_ones_are_held(
        orders: httpx.AsyncClient, products: httpx.AsyncClient, gateway: httpx.AsyncClient,
        db: asyncpg.Pool, secrets: dict[str, str]) -> None:
    a = await new_product(products, 5)
    abandoned, paid = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await reserve(orders, [(a, 2)], abandoned)).status_code == 200
    assert (await reserve(orders, [(a, 1)], paid)).status_code == 200
    for _ in range(2):
        r = await orders.post(f"/internal/reservations/{paid}/confirm")
        assert r.status_code == 200 and r.json() == {"order_id": paid, "status": "reserved"}
    assert await db.fetchval("SELECT expires_at FROM reservations WHERE order_id = $1",
                             uuid.UUID(paid)) is None
    # Age the abandoned one past its expiry, then run the sweep the service runs every 30 s.
    await db.execute("UPDATE reservations SET expires_at = now() - interval '1 second' "
                     "WHERE order_id = $1", uuid.UUID(abandoned))
    sidecar = Sidecar(sidecar_url("inventory"), secrets["dapr-api-token"])
    try:
        await InventoryService(db, sidecar, timedelta(minutes=15)).expire_due()
    finally:
        await sidecar.aclose()
    assert await db.fetchval("SELECT status FROM reservation_orders WHERE order_id = $1",
                             uuid.UUID(abandoned)) == "expired"
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 5, "reserved": 1,
                                          "available": 4}
    # Releasing an expired reservation is a no-op; committing it takes the units again.
    r = await orders.post(f"/internal/reservations/{abandoned}/release")
    assert r.status_code == 200 and r.json()["status"] == "expired"
    r = await orders.post(f"/internal/reservations/{abandoned}/commit")
    assert r.status_code == 200, r.text
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 3, "reserved": 1,
                                          "available": 2}


async def test_confirm_after_expiry_holds_again_only_if_stock_is_left(
        orders: httpx.AsyncClient, products: httpx.AsyncClient, gateway: httpx.AsyncClient,
        db: asyncpg.Pool, secrets: dict[str, str]) -> None:
    a = await new_product(products, 2)
    late = str(uuid.uuid4())
    assert (await reserve(orders, [(a, 2)], late)).status_code == 200
    await db.execute("UPDATE reservations SET expires_at = now() - interval '1 second' "
                     "WHERE order_id = $1", uuid.UUID(late))
    sidecar = Sidecar(sidecar_url("inventory"), secrets["dapr-api-token"])
    try:
        await InventoryService(db, sidecar, timedelta(minutes=15)).expire_due()
    finally:
        await sidecar.aclose()
    assert (await reserve(orders, [(a, 1)])).status_code == 200  # someone else takes one
    body = is_problem(await orders.post(f"/internal/reservations/{late}/confirm"), 409)
    assert body["code"] == "out_of_stock" and body["unavailable"] == [a]
    assert (await stock_of(gateway, a))["reserved"] == 1


# -- concurrency ----------------------------------------------------------------------------
async def test_no_oversell_under_100_concurrent_orders(
        orders: httpx.AsyncClient, products: httpx.AsyncClient, gateway: httpx.AsyncClient,
        db: asyncpg.Pool) -> None:
    a = await new_product(products, 10)
    results = await asyncio.gather(*(reserve(orders, [(a, 1)]) for _ in range(100)))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 10, codes
    assert codes.count(409) == 90, codes
    assert all(r.json()["code"] == "out_of_stock" for r in results if r.status_code == 409)
    assert await stock_of(gateway, a) == {"product_id": a, "on_hand": 10, "reserved": 10,
                                          "available": 0}
    held = await db.fetchval("SELECT coalesce(sum(quantity), 0) FROM reservations "
                             "WHERE product_id = $1 AND status = 'reserved'", uuid.UUID(a))
    assert held == 10


async def test_crossing_multi_line_orders_never_deadlock(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a, b, c = [await new_product(products, 1000) for _ in range(3)]
    orders_lines = [[(a, 1), (b, 1), (c, 1)], [(c, 1), (b, 1), (a, 1)], [(b, 1), (a, 1)],
                    [(c, 1), (a, 1)]] * 15
    results = await asyncio.gather(*(reserve(orders, lines) for lines in orders_lines))
    assert [r.status_code for r in results] == [200] * len(orders_lines)
    assert (await stock_of(gateway, a))["reserved"] == 60
    assert (await stock_of(gateway, b))["reserved"] == 45
    assert (await stock_of(gateway, c))["reserved"] == 45


async def test_concurrent_repeats_of_one_order_hold_once(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a = await new_product(products, 10)
    order_id = str(uuid.uuid4())
    results = await asyncio.gather(*(reserve(orders, [(a, 3)], order_id) for _ in range(20)))
    assert [r.status_code for r in results] == [200] * 20
    assert (await stock_of(gateway, a))["reserved"] == 3


# -- stock ----------------------------------------------------------------------------------
async def test_internal_stock_upsert_cannot_go_below_reserved(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        gateway: httpx.AsyncClient) -> None:
    a = await new_product(products, 5)
    assert (await reserve(orders, [(a, 3)])).status_code == 200
    r = await products.put(f"/internal/stock/{a}", json={"on_hand": 8})
    assert r.json() == {"product_id": a, "on_hand": 8, "reserved": 3, "available": 5}
    body = is_problem(await products.put(f"/internal/stock/{a}", json={"on_hand": 2}), 409)
    assert body["code"] == "below_reserved"
    assert (await stock_of(gateway, a))["on_hand"] == 8


async def test_public_read_of_unknown_product_is_404(gateway: httpx.AsyncClient) -> None:
    is_problem(await gateway.get(f"/api/inventory/{uuid.uuid4()}"), 404)
    is_problem(await gateway.get("/api/inventory/not-a-uuid"), 404)


async def test_admin_sets_stock_through_the_gateway(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Any,
        orders: httpx.AsyncClient, products: httpx.AsyncClient) -> None:
    a = await new_product(products, 5)
    is_problem(await gateway.put(f"/api/inventory/{a}", json={"on_hand": 9}), 401)
    is_problem(await gateway.put(f"/api/inventory/{a}", json={"on_hand": 9},
                                 headers=customer.headers), 403)
    r = await gateway.put(f"/api/inventory/{a}", json={"on_hand": 9}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"product_id": a, "on_hand": 9, "reserved": 0, "available": 9}
    assert (await reserve(orders, [(a, 4)])).status_code == 200
    body = is_problem(await gateway.put(f"/api/inventory/{a}", json={"on_hand": 3},
                                        headers=admin_headers), 409)
    assert body["code"] == "below_reserved"
    for bad in ({"on_hand": -1}, {"on_hand": "nine"}, {"on_hand": 9, "reserved": 0}, {}):
        is_problem(await gateway.put(f"/api/inventory/{a}", json=bad, headers=admin_headers),
                   400)


def _stream(secrets: dict[str, str], count: int = 500) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["redis-cli", "-p", str(stack.REDIS_PORT), "--no-auth-warning", "XREVRANGE",
         "inventory", "+", "-", "COUNT", str(count)],
        env={**os.environ, "REDISCLI_AUTH": secrets["redis-password"]},
        capture_output=True, text=True, check=True, timeout=10).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{\"data\"")]


async def test_every_change_publishes_stock_changed_with_a_version(
        orders: httpx.AsyncClient, products: httpx.AsyncClient,
        secrets: dict[str, str]) -> None:
    a = await new_product(products, 5)
    order_id = str(uuid.uuid4())
    assert (await reserve(orders, [(a, 2)], order_id)).status_code == 200
    assert (await orders.post(f"/internal/reservations/{order_id}/commit")).status_code == 200
    events = [e["data"] for e in await asyncio.to_thread(_stream, secrets)
              if e.get("type") == "stock.changed" and e["data"]["product_id"] == a]
    by_version = {e["version"]: e for e in events}
    assert by_version[1] == {"type": "stock.changed", "product_id": a, "on_hand": 5,
                             "reserved": 0, "available": 5, "version": 1}
    assert by_version[2] == {"type": "stock.changed", "product_id": a, "on_hand": 5,
                             "reserved": 2, "available": 3, "version": 2}
    assert by_version[3] == {"type": "stock.changed", "product_id": a, "on_hand": 3,
                             "reserved": 0, "available": 3, "version": 3}


async def test_an_event_left_in_the_outbox_by_a_crash_is_published(
        db: asyncpg.Pool, secrets: dict[str, str]) -> None:
    # What a crash between the commit and the publish leaves behind: a row nobody published.
    product = str(uuid.uuid4())
    payload = {"product_id": product, "on_hand": 7, "reserved": 0, "available": 7, "version": 1}
    row_id = await db.fetchval(
        "INSERT INTO stock_outbox (product_id, event_type, payload, created_at)"
        " VALUES ($1, 'stock.changed', $2::jsonb, now() - interval '5 seconds') RETURNING id",
        uuid.UUID(product), json.dumps(payload))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if await db.fetchval("SELECT published_at FROM stock_outbox WHERE id = $1", row_id):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the outbox drainer did not publish the left-over event")
    events = [e["data"] for e in await asyncio.to_thread(_stream, secrets)
              if e["data"].get("product_id") == product]
    assert events == [{"type": "stock.changed", **payload}]
    await db.execute("DELETE FROM stock_outbox WHERE id = $1", row_id)


# -- access control -------------------------------------------------------------------------
INTERNAL_CALLS = [
    ("POST", "internal/reservations"),
    ("POST", f"internal/reservations/{uuid.uuid4()}/commit"),
    ("POST", f"internal/reservations/{uuid.uuid4()}/release"),
    ("POST", f"internal/reservations/{uuid.uuid4()}/confirm"),
    ("PUT", f"internal/stock/{uuid.uuid4()}"),
]


@pytest.mark.parametrize(("method", "path"), INTERNAL_CALLS)
@pytest.mark.parametrize("caller", ["gateway", "users", "payments", "notifications"])
async def test_only_orders_and_products_reach_internal_routes(
        caller: str, method: str, path: str, dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(headers=dapr_headers, timeout=30) as c:
        r = await c.request(method, f"{sidecar_url(caller)}/v1.0/invoke/inventory/method/{path}",
                            json={"on_hand": 1})
    body = is_problem(r, 403)
    assert "internal endpoint" in body["detail"]


async def test_products_may_set_stock_but_not_reserve(products: httpx.AsyncClient) -> None:
    r = await products.post("/internal/reservations", json={
        "order_id": str(uuid.uuid4()), "items": [{"product_id": str(uuid.uuid4()),
                                                   "quantity": 1}]})
    is_problem(r, 403)


async def test_a_forged_caller_header_does_not_pass_the_gateway_sidecar(
        dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(f"{sidecar_url('gateway')}/v1.0/invoke/inventory/method/"
                         "internal/reservations",
                         headers={**dapr_headers, "dapr-caller-app-id": "orders"},
                         json={"order_id": str(uuid.uuid4()), "items": []})
    is_problem(r, 403)


@pytest.mark.parametrize("path", [
    "/api/inventory/../internal/reservations",
    "/api/inventory/../../internal/reservations",
    "/api/inventory/%2e%2e/%2e%2e/internal/reservations",
    "/api/inventory/..%2f..%2finternal/reservations",
    "/api/inventory/internal/reservations",
    "/internal/reservations",
])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_gateway_does_not_expose_internal_routes(path: str, method: str,
                                                          db: asyncpg.Pool) -> None:
    body = {"order_id": str(uuid.uuid4()),
            "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]}
    async with httpx.AsyncClient(base_url=stack.GATEWAY_URL, timeout=30) as c:
        req = c.build_request(method, "http://127.0.0.1:8080", json=body)
        req.url = req.url.copy_with(raw_path=path.encode())
        r = await c.send(req)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)
    assert await db.fetchval("SELECT count(*) FROM reservation_orders WHERE order_id = $1",
                             uuid.UUID(body["order_id"])) == 0


# -- bad input ------------------------------------------------------------------------------
def _order(**items: Any) -> dict[str, Any]:
    return {"order_id": str(uuid.uuid4()),
            "items": [{"product_id": str(uuid.uuid4()), "quantity": 1, **items}]}


@pytest.mark.parametrize("body", [
    {"order_id": "not-a-uuid", "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
    {"order_id": str(uuid.uuid4()), "items": [{"product_id": "nope", "quantity": 1}]},
    {"order_id": str(uuid.uuid4()), "items": []},
    {"order_id": str(uuid.uuid4())},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
    _order(quantity=0),
    _order(quantity=-1),
    _order(quantity=10**9),
    _order(quantity=2**63),
    _order(quantity=1.5),
    _order(quantity="one"),
    _order(quantity=True),
    _order(price="0.01"),
    {**_order(), "status": "committed"},
    {"order_id": str(uuid.uuid4()),
     "items": [{"product_id": str(uuid.uuid4()), "quantity": 1}] * 101},
    [],
    "reserve",
], ids=lambda b: json.dumps(b)[:60])
async def test_bad_reservations_are_4xx_problems(orders: httpx.AsyncClient, body: Any) -> None:
    r = await orders.post("/internal/reservations", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)


@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b"\xff\xfe", b"null"])
async def test_malformed_json_is_a_4xx_problem(orders: httpx.AsyncClient, raw: bytes) -> None:
    r = await orders.post("/internal/reservations", content=raw,
                          headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r)


async def test_bad_order_ids_in_paths_are_4xx(orders: httpx.AsyncClient,
                                              products: httpx.AsyncClient) -> None:
    for path in ("/internal/reservations/not-a-uuid/commit",
                 "/internal/reservations/123/release"):
        r = await orders.post(path)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        is_problem(r)
    is_problem(await products.put("/internal/stock/not-a-uuid", json={"on_hand": 1}), 404)
    for bad in ({"on_hand": -1}, {"on_hand": 10**10}, {"on_hand": None}, {"stock": 1}):
        r = await products.put(f"/internal/stock/{uuid.uuid4()}", json=bad)
        is_problem(r, 400)
