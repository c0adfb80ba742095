"""The gateway's edge cache of public catalog reads on the real stack: what it answers,
what it never answers, and that a catalog write that returned is seen by the next read.

Every test creates its own product (soft-deleted afterwards), so the seeded catalog and
other tests do not matter. A catalog write anywhere (another test, a stock change) moves
the version, so a read expected to be a hit is retried until one is seen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, metric

GATEWAY_METRICS = "http://127.0.0.1:9080/metrics"  # the internal port, not the public one


@pytest.fixture
async def product(gateway: httpx.AsyncClient,
                  admin_headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    word = "edge" + uuid.uuid4().hex[:10]
    r = await gateway.post("/api/products", headers=admin_headers, json={
        "name": f"{word} lamp", "price": "30.00", "category": f"Edge {word}"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    yield body
    await gateway.delete(f"/api/products/{body['id']}", headers=admin_headers)


async def _until_hit(gateway: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    for _ in range(30):
        r = await gateway.get(url, **kw)
        assert r.status_code == 200, r.text
        if r.headers.get("x-cache") == "hit":
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} was never answered from the edge cache")


async def _edge_count(gateway: httpx.AsyncClient, result: str) -> float:
    return await metric(GATEWAY_METRICS,
                        "ecommerce_gateway_edge_cache_total", result=result)


async def test_anonymous_reads_are_served_again_with_the_same_body(
        gateway: httpx.AsyncClient, product: dict[str, Any]) -> None:
    for url in (f"/api/products/{product['id']}",
                f"/api/products?category=Edge%20{product['name'].split()[0]}",
                "/api/products/categories"):
        first = await gateway.get(url)
        assert first.status_code == 200
        assert first.headers["x-cache"] in ("hit", "miss")
        hits = await _edge_count(gateway, "hit")
        again = await _until_hit(gateway, url)
        assert again.json() == first.json() or url.endswith("categories")
        assert await _edge_count(gateway, "hit") > hits
        # the internal version marker never leaves the gateway; each answer has its own id
        assert "x-cache-version" not in again.headers
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
        assert again.headers["content-type"].startswith("application/json")
        assert again.headers["cache-control"] == "no-cache"


async def test_a_hit_carries_the_request_id_the_client_sent(
        gateway: httpx.AsyncClient, product: dict[str, Any]) -> None:
    url = f"/api/products/{product['id']}"
    rid = uuid.uuid4().hex
    r = await _until_hit(gateway, url, headers={"x-request-id": rid})
    assert r.headers["x-request-id"] == rid


async def test_a_write_that_returned_is_seen_by_the_next_anonymous_read(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str],
        product: dict[str, Any]) -> None:
    url = f"/api/products/{product['id']}"
    listing = f"/api/products?category=Edge%20{product['name'].split()[0]}"
    for price in ("31.00", "32.50", "29.99", "33.00"):
        await _until_hit(gateway, url)
        await _until_hit(gateway, listing)
        r = await gateway.patch(url, json={"price": price}, headers=admin_headers)
        assert r.status_code == 200, r.text
        fresh = await gateway.get(url)
        assert fresh.json()["price"] == price
        assert fresh.headers["x-cache"] == "miss"
        assert (await gateway.get(listing)).json()["items"][0]["price"] == price
    assert (await gateway.delete(url, headers=admin_headers)).status_code == 204
    # the cached answer is gone with the product: the public now gets 404
    assert (await gateway.get(url)).status_code == 404
    assert (await gateway.get(listing)).json()["total"] == 0


async def test_concurrent_readers_never_see_a_price_older_than_a_returned_write(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str],
        product: dict[str, Any]) -> None:
    url = f"/api/products/{product['id']}"
    for n in range(5):
        price = f"{40 + n}.00"
        # Started before the write, so they race it; they may see either price.
        reads = [asyncio.create_task(gateway.get(url)) for _ in range(10)]
        await asyncio.sleep(0)
        r = await gateway.patch(url, json={"price": price}, headers=admin_headers)
        assert r.status_code == 200, r.text
        raced = await asyncio.gather(*reads)
        assert all(x.status_code == 200 for x in raced)
        after = await asyncio.gather(*(gateway.get(url) for _ in range(20)))
        assert {a.json()["price"] for a in after} == {price}


async def test_requests_with_credentials_or_no_cache_go_to_the_service(
        gateway: httpx.AsyncClient, customer: Customer, product: dict[str, Any]) -> None:
    url = f"/api/products/{product['id']}"
    await _until_hit(gateway, url)
    bypass = await _edge_count(gateway, "bypass")
    for headers in (customer.headers, {"cache-control": "no-cache"}, {"pragma": "no-cache"},
                    {"cache-control": "max-age=0, no-store"}, {"cookie": "session=1"}):
        r = await gateway.get(url, headers=headers)
        assert r.status_code == 200, r.text
        assert "x-cache" not in r.headers, headers
        assert r.json()["id"] == product["id"]
    assert await _edge_count(gateway, "bypass") >= bypass + 5


async def test_only_successful_catalog_reads_are_kept(gateway: httpx.AsyncClient) -> None:
    missing = f"/api/products/{uuid.uuid4()}"
    for _ in range(3):
        r = await gateway.get(missing)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers.get("x-cache") == "miss"
    bad = await gateway.get("/api/products?page=0")
    assert bad.status_code in (400, 422)
    assert bad.headers.get("x-cache") == "miss"
    # answers that name no version are never kept: users, orders ... are always forwarded
    for _ in range(3):
        r = await gateway.get("/api/users/health")
        assert r.status_code == 200
        assert r.headers.get("x-cache") == "miss"
