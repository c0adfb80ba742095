"""The catalog through the gateway on the real stack: admin CRUD and its guards, input
validation, search and ranking, filters, sorting, pagination, the Dapr cache and its
invalidation, the stock read model fed by inventory, and the orders' batch lookup.

Every test creates its own products (under a unique word, so that the seeded catalog and
other tests do not matter) and soft-deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.common.dapr import Sidecar
from services.products import outbox as products_outbox
from services.products import repository as products_repository
from services.products import service as products_service
from tests.conftest import (
    Customer,
    database,
    eventually,
    is_problem,
    metric,
    sidecar_url,
    stack,
    wait_for_line,
)

Factory = Callable[..., Awaitable[dict[str, Any]]]
PRODUCTS_METRICS = "http://127.0.0.1:3002/metrics"


def unique_word() -> str:
    """A made-up word no stemmer or other product shares."""
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


@pytest.fixture
async def make_product(gateway: httpx.AsyncClient,
                       admin_headers: dict[str, str]) -> AsyncIterator[Factory]:
    """Create products as the admin; every one is deleted when the test ends."""
    created: list[str] = []

    async def make(**fields: Any) -> dict[str, Any]:
        body = {"name": f"Test product {uuid.uuid4().hex[:8]}", "price": "10.00",
                "category": "Test", "description": "", **fields}
        r = await gateway.post("/api/products", json=body, headers=admin_headers)
        assert r.status_code == 201, r.text
        product: dict[str, Any] = r.json()
        created.append(product["id"])
        return product

    yield make
    for pid in created:
        r = await gateway.delete(f"/api/products/{pid}", headers=admin_headers)
        assert r.status_code in (204, 404), r.text


async def _list(gateway: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await gateway.get("/api/products", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _names(page: dict[str, Any]) -> list[str]:
    return [p["name"] for p in page["items"]]


# -- reads ------------------------------------------------------------------------------------
async def test_anonymous_listing_has_the_page_shape_and_the_seeded_catalog(
        gateway: httpx.AsyncClient) -> None:
    body = await _list(gateway)
    assert set(body) == {"items", "total", "page", "page_size"}
    assert (body["page"], body["page_size"]) == (1, 20)
    assert body["total"] >= 60, "the demo catalog is seeded at start-up"
    assert len(body["items"]) == 20
    item = body["items"][0]
    assert set(item) >= {"id", "name", "description", "price", "category", "image_url",
                         "stock_quantity", "created_at", "updated_at"}
    assert re.fullmatch(r"\d+\.\d\d", item["price"])
    categories = (await gateway.get("/api/products/categories")).json()["items"]
    assert len(categories) >= 3
    assert sum(c["count"] for c in categories) == body["total"]


async def test_product_by_id_and_unknown_ids(gateway: httpx.AsyncClient,
                                             make_product: Factory) -> None:
    product = await make_product(description="Read me by id")
    r = await gateway.get(f"/api/products/{product['id']}")
    assert r.status_code == 200
    assert r.json() == product
    is_problem(await gateway.get(f"/api/products/{uuid.uuid4()}"), 404)
    r = await gateway.get("/api/products/not-a-uuid")
    assert r.status_code in (404, 422)
    is_problem(r)


# -- admin CRUD and who may do it -----------------------------------------------------------
async def test_admin_creates_replaces_patches_and_soft_deletes(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], make_product: Factory) -> None:
    word = unique_word()
    category = f"Cat {word}"
    product = await make_product(name=f"{word} kettle", price=12.5, category=category,
                                 description="Boils water", image_url="https://img.test/k.jpg")
    assert product["price"] == "12.50"
    assert product["stock_quantity"] == 0 and product["active"] is True
    pid = product["id"]

    r = await gateway.put(f"/api/products/{pid}", headers=admin_headers, json={
        "name": f"{word} kettle 2", "price": "15.00", "category": category,
        "description": "Boils water faster"})
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert (replaced["name"], replaced["price"], replaced["image_url"]) == (
        f"{word} kettle 2", "15.00", None)
    assert replaced["updated_at"] > product["updated_at"]
    assert replaced["created_at"] == product["created_at"]

    r = await gateway.patch(f"/api/products/{pid}", headers=admin_headers,
                            json={"price": "14.99"})
    assert r.status_code == 200, r.text
    assert r.json()["price"] == "14.99" and r.json()["name"] == f"{word} kettle 2"

    assert (await gateway.delete(f"/api/products/{pid}",
                                 headers=admin_headers)).status_code == 204
    # 404 to the public, like a missing one; admins still see it (active: false)
    is_problem(await gateway.get(f"/api/products/{pid}"), 404)
    gone = (await gateway.get(f"/api/products/{pid}", headers=admin_headers)).json()
    assert gone["active"] is False and gone["deleted_at"] is not None
    assert gone["price"] == "14.99", "a deleted product stays readable for order history"
    assert (await _list(gateway, search=word))["total"] == 0
    assert category not in {c["name"] for c in
                            (await gateway.get("/api/products/categories")).json()["items"]}
    # deleting again is a no-op; changing a deleted product is a conflict
    assert (await gateway.delete(f"/api/products/{pid}",
                                 headers=admin_headers)).status_code == 204
    is_problem(await gateway.patch(f"/api/products/{pid}", headers=admin_headers,
                                   json={"price": "1.00"}), 409)
    for method in ("PUT", "PATCH", "DELETE"):
        r = await gateway.request(method, f"/api/products/{uuid.uuid4()}",
                                  headers=admin_headers,
                                  json={"name": "x", "price": "1", "category": "x"}
                                  if method != "DELETE" else None)
        is_problem(r, 404)


async def test_customers_get_403_and_anonymous_callers_401(
        gateway: httpx.AsyncClient, customer: Customer, make_product: Factory) -> None:
    product = await make_product()
    url = f"/api/products/{product['id']}"
    body = {"name": "Hijacked", "price": "0.01", "category": "Test"}
    calls = [("POST", "/api/products", body), ("PUT", url, body),
             ("PATCH", url, {"price": "0.01"}), ("DELETE", url, None)]
    for method, path, payload in calls:
        is_problem(await gateway.request(method, path, json=payload,
                                         headers=customer.headers), 403)
        r = await gateway.request(method, path, json=payload)
        is_problem(r, 401)
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
    after = (await gateway.get(url)).json()
    assert after == product


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"price": "-1.00"}, "price"),
    ({"price": "1.999"}, "price"),
    ({"price": "abc"}, "price"),
    ({"price": True}, "price"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"category": ""}, "category"),
    ({"image_url": "javascript:alert(1)"}, "image_url"),
    ({"stock": -1}, "stock"),
    ({"stock": "ten"}, "stock"),
    ({"stock_quantity": 5}, "stock_quantity"),
    ({"id": str(uuid.uuid4())}, "id"),
])
async def test_invalid_products_are_refused_with_field_errors(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, Any],
        field: str) -> None:
    full = {"name": "Valid name", "price": "1.00", "category": "Test", **body}
    r = await gateway.post("/api/products", json=full, headers=admin_headers)
    assert r.status_code in (400, 422), r.text
    problem = is_problem(r)
    assert problem["errors"], problem
    assert field in problem["detail"], problem


async def test_missing_fields_and_non_json_bodies_are_refused(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], make_product: Factory) -> None:
    is_problem(await gateway.post("/api/products", json={"name": "No price"},
                                  headers=admin_headers))
    r = await gateway.post("/api/products", content=b"{not json",
                           headers={**admin_headers, "content-type": "application/json"})
    assert r.status_code in (400, 415, 422)
    is_problem(r)
    product = await make_product()
    r = await gateway.patch(f"/api/products/{product['id']}", json={}, headers=admin_headers)
    assert "at least one" in is_problem(r, 422)["detail"]
    r = await gateway.put(f"/api/products/{product['id']}", json={"price": "1.00"},
                          headers=admin_headers)
    assert r.status_code in (400, 422)


@pytest.mark.parametrize(("params", "field"), [
    ({"page": 0}, "page"),
    ({"page": -3}, "page"),
    ({"page": "two"}, "page"),
    ({"page_size": 0}, "page_size"),
    ({"page_size": 101}, "page_size"),
    ({"min_price": "-1"}, "min_price"),
    ({"max_price": "ten"}, "max_price"),
    ({"min_price": "1.001"}, "min_price"),
    ({"min_price": "50", "max_price": "10"}, "min_price"),
    ({"sort": "price; DROP TABLE products"}, "sort"),
    ({"sort": "popularity"}, "sort"),
    ({"in_stock": "maybe"}, "in_stock"),
    ({"search": "x" * 201}, "search"),
])
async def test_bad_listing_parameters_are_4xx_problems(
        gateway: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    r = await gateway.get("/api/products", params=params)
    assert r.status_code in (400, 422), r.text
    problem = is_problem(r)
    assert field in {e["field"] for e in problem["errors"]}, problem


@pytest.mark.parametrize("search", ["'", "\"", "a & b | !c", "(((", "-", "or or or", "%_\\",
                                   "ünïcödé ☕", "1' OR '1'='1", ":*", "<->"])
async def test_odd_search_strings_never_fail(gateway: httpx.AsyncClient, search: str) -> None:
    r = await gateway.get("/api/products", params={"search": search})
    assert r.status_code == 200, r.text


async def test_huge_page_numbers_are_empty_pages(gateway: httpx.AsyncClient) -> None:
    for page in (10**6, 2**63 - 1):
        body = await _list(gateway, page=page, page_size=100)
        assert body["items"] == [] and body["total"] >= 60 and body["page"] == page


@pytest.mark.parametrize("search", [None, "headphones", "hedphones", "the", "zzzzqqq"])
@pytest.mark.parametrize("sort", ["relevance", "price", "-price", "name", "newest"])
async def test_pages_past_the_end_of_every_kind_of_listing(
        gateway: httpx.AsyncClient, search: str | None, sort: str) -> None:
    params = {"sort": sort, "page": 50, "page_size": 100,
              **({"search": search} if search else {})}
    body = await _list(gateway, **params)
    assert body["items"] == []
    first = await _list(gateway, **{**params, "page": 1})
    assert body["total"] == first["total"]


# -- search ---------------------------------------------------------------------------------------
async def test_search_ranks_an_exact_name_match_first(gateway: httpx.AsyncClient,
                                                      make_product: Factory) -> None:
    word = unique_word()
    target = f"{word} Lantern"
    # Created first so that only ranking can put the exact match on top.
    await make_product(name=f"Camping light {word}",
                       description=f"Brighter than any {word} lantern. {word} lantern!")
    await make_product(name=f"{word} Lantern Deluxe", description="A lantern, deluxe.")
    await make_product(name=f"{word} Lantern Mount", category="Lantern accessories",
                       description=f"Holds a {word} lantern.")
    exact = await make_product(name=target, description="The lantern.")
    page = await _list(gateway, search=target)
    assert page["total"] == 4
    assert page["items"][0]["id"] == exact["id"]
    # a name match outranks a description-only match
    assert _names(page)[-1] == f"Camping light {word}"
    assert (await _list(gateway, search=target.upper()))["items"][0]["id"] == exact["id"]


async def test_search_syntax_stemming_phrase_exclusion_and_typos(
        gateway: httpx.AsyncClient, make_product: Factory) -> None:
    word = unique_word()
    await make_product(name=f"{word} Running Shoes", description="Light shoes for long runs.")
    await make_product(name=f"{word} Trail Shoe", description="Grippy sole for running trails.")
    await make_product(name=f"{word} Socks", description="Merino socks.")
    # stemming: "run" finds running / runs
    assert sorted(_names(await _list(gateway, search=f"{word} run"))) == [
        f"{word} Running Shoes", f"{word} Trail Shoe"]
    # all words must match
    assert _names(await _list(gateway, search=f"{word} merino")) == [f"{word} Socks"]
    # "phrase" and -exclusion
    assert _names(await _list(gateway, search=f'"{word} trail"')) == [f"{word} Trail Shoe"]
    assert _names(await _list(gateway, search=f"{word} shoe -trail")) == [
        f"{word} Running Shoes"]
    # or
    assert (await _list(gateway, search=f"{word} socks or {word} trail"))["total"] == 2
    # words match the category too
    fuzzy_target = await make_product(name="Xylophonist Practice Mallets",
                                      category=f"Music {word}")
    assert _names(await _list(gateway, search=f"music {word}")) == [fuzzy_target["name"]]
    # typo tolerance: nothing matches exactly, the closest names do
    typo = await _list(gateway, search="xylofonist mallets", category=f"Music {word}")
    assert _names(typo) == [fuzzy_target["name"]]
    assert (await _list(gateway, search=f"{word}qqq nonexistentthing"))["total"] == 0


# -- filters, sorting, pagination ---------------------------------------------------------------
@pytest.fixture
async def shelf(make_product: Factory) -> tuple[str, list[dict[str, Any]]]:
    """Four products in a category of their own, two with stock (set through inventory)."""
    category = f"Shelf {unique_word()}"
    specs = [("Delta", "35.00", 0), ("alpha", "5.00", 3), ("Charlie", "25.00", 0),
             ("Bravo", "15.00", 7)]
    made = []
    for name, price, stock in specs:
        made.append(await make_product(name=f"{name} item", price=price, category=category,
                                       stock=stock))
        await asyncio.sleep(0.01)  # distinct created_at for "newest"
    return category, made


async def test_each_filter_alone_and_combined(gateway: httpx.AsyncClient,
                                              shelf: tuple[str, list[dict[str, Any]]]) -> None:
    category, made = shelf
    assert [p["stock_quantity"] for p in made] == [0, 3, 0, 7]
    everything = (await _list(gateway, page_size=100))["total"]
    # category alone, in any case
    assert (await _list(gateway, category=category.upper()))["total"] == 4
    # price bounds alone (over the whole catalog): every item is within them
    for params, ok in [({"min_price": "20"}, lambda p: p >= 20),
                       ({"max_price": "15"}, lambda p: p <= 15),
                       ({"min_price": "15", "max_price": "25"}, lambda p: 15 <= p <= 25)]:
        page = await _list(gateway, page_size=100, **params)
        assert 0 < page["total"] < everything
        assert all(ok(Decimal(p["price"])) for p in page["items"])
    # in_stock alone
    stocked = await _list(gateway, in_stock="true", page_size=100)
    unstocked = await _list(gateway, in_stock="false", page_size=100)
    assert all(p["stock_quantity"] > 0 for p in stocked["items"])
    assert all(p["stock_quantity"] == 0 for p in unstocked["items"])
    assert stocked["total"] + unstocked["total"] == everything
    # combined
    combos = [
        ({"min_price": "10"}, {"Delta item", "Charlie item", "Bravo item"}),
        ({"max_price": "25", "min_price": "15"}, {"Charlie item", "Bravo item"}),
        ({"in_stock": "true"}, {"alpha item", "Bravo item"}),
        ({"in_stock": "false", "max_price": "30"}, {"Charlie item"}),
        ({"in_stock": "true", "min_price": "5.01", "search": "item"}, {"Bravo item"}),
        ({"min_price": "100"}, set()),
    ]
    for params, names in combos:
        page = await _list(gateway, category=category, **params)
        assert set(_names(page)) == names, params
        assert page["total"] == len(names)


async def test_sort_orders(gateway: httpx.AsyncClient,
                           shelf: tuple[str, list[dict[str, Any]]]) -> None:
    category, made = shelf
    expected = {
        "price": ["alpha item", "Bravo item", "Charlie item", "Delta item"],
        "-price": ["Delta item", "Charlie item", "Bravo item", "alpha item"],
        "name": ["alpha item", "Bravo item", "Charlie item", "Delta item"],
        "newest": [p["name"] for p in reversed(made)],
        "relevance": [p["name"] for p in reversed(made)],  # no search: newest first
    }
    for sort, names in expected.items():
        assert _names(await _list(gateway, category=category, sort=sort)) == names, sort


async def test_pagination_totals_across_pages(gateway: httpx.AsyncClient,
                                              shelf: tuple[str, list[dict[str, Any]]]) -> None:
    category, made = shelf
    pages = [await _list(gateway, category=category, sort="price", page=n, page_size=3)
             for n in (1, 2, 3)]
    assert [p["total"] for p in pages] == [4, 4, 4]
    assert [len(p["items"]) for p in pages] == [3, 1, 0]
    assert [p["page"] for p in pages] == [1, 2, 3]
    ids = [p["id"] for page in pages for p in page["items"]]
    assert sorted(ids) == sorted(p["id"] for p in made)
    # the whole catalog, page by page: every product once, the same total everywhere
    first = await _list(gateway, sort="name", page_size=25)
    seen = [p["id"] for p in first["items"]]
    for n in range(2, -(-first["total"] // 25) + 1):
        page = await _list(gateway, sort="name", page=n, page_size=25)
        assert page["total"] == first["total"]
        seen += [p["id"] for p in page["items"]]
    assert len(seen) == len(set(seen)) == first["total"]


# -- the cache --------------------------------------------------------------------------------
async def _cache_hits(kind: str) -> float:
    return await metric(PRODUCTS_METRICS, "ecommerce_products_cache_requests_total",
                        kind=kind, result="hit")


async def test_reads_are_cached_and_writes_invalidate_at_once(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], make_product: Factory) -> None:
    word = unique_word()
    category = f"Cache {word}"
    product = await make_product(name=f"{word} cached", price="20.00", category=category)
    url = f"/api/products/{product['id']}"
    # warm the cache, then read again: a hit (any catalog write in between, such as a stock
    # change from an order placed meanwhile, empties the cache: then try again). no-cache
    # makes the gateway pass the read on to products rather than answer from its edge cache.
    origin = {"cache-control": "no-cache"}
    for _ in range(20):
        await gateway.get(url, headers=origin)
        await gateway.get("/api/products", params={"category": category}, headers=origin)
        item_hits, list_hits = await _cache_hits("item"), await _cache_hits("list")
        assert (await gateway.get(url, headers=origin)).json()["price"] == "20.00"
        r = await gateway.get("/api/products", params={"category": category}, headers=origin)
        assert r.json()["items"][0]["price"] == "20.00"
        if await _cache_hits("item") > item_hits and await _cache_hits("list") > list_hits:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("repeated reads never hit the cache")
    # an update is visible to the very next read, by id and in listings
    for n, price in enumerate(("21.00", "22.50", "19.99")):
        method = gateway.patch if n % 2 else gateway.put
        body = ({"price": price} if n % 2 else
                {"name": f"{word} cached", "price": price, "category": category})
        r = await method(url, json=body, headers=admin_headers)
        assert r.status_code == 200, r.text
        assert (await gateway.get(url)).json()["price"] == price
        assert (await _list(gateway, category=category))["items"][0]["price"] == price
        assert (await _list(gateway, search=word))["items"][0]["price"] == price
    # a delete too
    assert (await gateway.delete(url, headers=admin_headers)).status_code == 204
    assert (await gateway.get(url, headers=admin_headers)).json()["active"] is False
    is_problem(await gateway.get(url), 404)
    assert (await _list(gateway, category=category))["total"] == 0
    assert category not in {c["name"] for c in
                            (await gateway.get("/api/products/categories")).json()["items"]}


# -- the stock read model -----------------------------------------------------------------------
async def test_stock_follows_inventory(gateway: httpx.AsyncClient,
                                       admin_headers: dict[str, str],
                                       make_product: Factory) -> None:
    product = await make_product(stock=5)
    assert product["stock_quantity"] == 5 and product["in_stock"] is True
    pid = product["id"]
    inv = await gateway.get(f"/api/inventory/{pid}")
    assert inv.status_code == 200, inv.text
    assert inv.json()["on_hand"] == 5, "the initial stock is set in inventory"
    await _list(gateway, in_stock="true", category=product["category"])  # cache a page

    for on_hand in (9, 0, 4):
        r = await gateway.put(f"/api/inventory/{pid}", json={"on_hand": on_hand},
                              headers=admin_headers)
        assert r.status_code == 200, r.text

        async def follows(expected: int = on_hand) -> bool:
            p = (await gateway.get(f"/api/products/{pid}")).json()
            return bool(p["stock_quantity"] == expected and p["in_stock"] == (expected > 0))

        await eventually(follows)
        in_stock_ids = {p["id"] for p in (await _list(
            gateway, in_stock="true", category=product["category"], page_size=100))["items"]}
        assert (pid in in_stock_ids) == (on_hand > 0)


async def _invalidations(reason: str) -> float:
    return await metric(PRODUCTS_METRICS, "ecommerce_products_cache_invalidations_total",
                        reason=reason)


async def test_a_run_of_stock_changes_costs_the_cache_one_new_version_a_second(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str],
        make_product: Factory) -> None:
    """Reservations change stock all the time; the catalog cache must survive them. Twenty
    changes in a row make a handful of new versions, and the last level shows in listings
    and by id within about a second of reaching the read model."""
    product = await make_product(stock=100)
    pid, category = product["id"], product["category"]
    before = await _invalidations("stock")
    started = time.monotonic()
    for on_hand in range(80, 100):
        r = await gateway.put(f"/api/inventory/{pid}", json={"on_hand": on_hand},
                              headers=admin_headers)
        assert r.status_code == 200, r.text

    async def shows_last() -> bool:
        by_id = (await gateway.get(f"/api/products/{pid}")).json()["stock_quantity"]
        listed = {p["id"]: p["stock_quantity"] for p in (await _list(
            gateway, category=category, page_size=100))["items"]}
        return by_id == 99 and listed.get(pid) == 99

    await eventually(shows_last, timeout=10)
    await asyncio.sleep(2.5)  # the last change's new version comes within a second
    bumps = await _invalidations("stock") - before
    # At most one new version per second of the run (other tests' stock changes share
    # them), and never one per change.
    seconds = time.monotonic() - started
    assert 1 <= bumps <= min(seconds + 1, 19), (bumps, seconds)


async def test_stale_and_duplicate_stock_events_are_ignored(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str], make_product: Factory) -> None:
    """Events straight onto the real broker, as inventory's sidecar would deliver them."""
    product = await make_product()
    pid = product["id"]
    base = 10**12  # above any version inventory has given this product

    async def publish(version: int, available: int, event_id: str | None = None) -> None:
        event = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()),
                 "source": "inventory", "type": "stock.changed",
                 "datacontenttype": "application/json",
                 "data": {"type": "stock.changed", "product_id": pid, "on_hand": available,
                          "reserved": 0, "available": available, "version": version}}
        async with httpx.AsyncClient(headers=dapr_headers) as c:
            r = await c.post(f"{sidecar_url('inventory')}/v1.0/publish/pubsub/inventory",
                             json=event,
                             headers={"content-type": "application/cloudevents+json"})
        assert r.status_code == 204, r.text

    async def stock() -> int:
        value: int = (await gateway.get(f"/api/products/{pid}")).json()["stock_quantity"]
        return value

    async def is_(expected: int) -> bool:
        return await stock() == expected

    await publish(base + 2, 8, event_id="dup-" + pid)
    await eventually(lambda: is_(8))
    await publish(base + 1, 3)  # older: ignored
    await publish(base + 3, 11, event_id="dup-" + pid)  # same event id again: ignored
    await publish(base + 4, 6)  # newer: applied, and delivered after the two above
    await eventually(lambda: is_(6))
    # The same event id once more, now with the newest version: only the id can refuse it.
    await publish(base + 5, 13, event_id="dup-" + pid)
    await wait_for_line(stack.LOGS / "products.log",
                        f'"product_id": "{pid}", "available": 13, "applied": false')
    assert await stock() == 6


# -- the orders service's lookup ------------------------------------------------------------
async def test_internal_batch_lookup_for_orders(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], dapr_headers: dict[str, str],
        make_product: Factory) -> None:
    live = await make_product(price="3.30")
    dead = await make_product(price="4.40")
    assert (await gateway.delete(f"/api/products/{dead['id']}",
                                 headers=admin_headers)).status_code == 204
    ids = [live["id"], dead["id"], str(uuid.uuid4()), live["id"]]
    async with httpx.AsyncClient(headers=dapr_headers) as c:
        r = await c.post(
            f"{sidecar_url('orders')}/v1.0/invoke/products/method/internal/products/batch",
            json={"ids": ids})
    assert r.status_code == 200, r.text
    items = {i["id"]: i for i in r.json()["items"]}
    assert set(items) == {live["id"], dead["id"]}
    assert items[live["id"]] == {"id": live["id"], "name": live["name"], "price": "3.30",
                                 "category": live["category"], "active": True,
                                 "stock_quantity": 0}
    assert items[dead["id"]]["active"] is False
    # only orders may call it
    async with httpx.AsyncClient(headers=dapr_headers) as c:
        r = await c.post(
            f"{sidecar_url('notifications')}/v1.0/invoke/products/method/internal/products/batch",
            json={"ids": ids})
    is_problem(r, 403)
    # not reachable from outside: the gateway forwards /api/<service>/... only
    is_problem(await gateway.post("/internal/products/batch", json={"ids": ids}), 404)
    r = await gateway.post("/api/products/internal/products/batch", json={"ids": ids})
    assert r.status_code in (401, 404, 405)
    is_problem(r)


# -- events -----------------------------------------------------------------------------------
EVENT_FIELDS = {"type", "product_id", "name", "price", "category", "active", "occurred_at"}


def _product_event_data(secrets: dict[str, str], product_id: str) -> list[dict[str, Any]]:
    """The payloads of the events about `product_id` on the `products` topic, oldest first,
    read from the real broker (pubsub.redis keeps a topic as a Redis stream of that name)."""
    out = subprocess.run(
        ["redis-cli", "-p", str(stack.REDIS_PORT), "--no-auth-warning", "XREVRANGE",
         "products", "+", "-", "COUNT", "500"],
        env={"REDISCLI_AUTH": secrets["redis-password"], "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=10).stdout
    found = []
    for line in out.splitlines():
        if line.startswith("{") and product_id in line and '"data"' in line:
            envelope = json.loads(line)
            assert envelope["data"]["type"] == envelope["type"], envelope
            found.append(envelope["data"])
    return list(reversed(found))


products_db = database("products")


async def test_writes_publish_product_events(gateway: httpx.AsyncClient,
                                             admin_headers: dict[str, str],
                                             secrets: dict[str, str],
                                             products_db: asyncpg.Pool,
                                             make_product: Factory) -> None:
    product = await make_product(price="7.00")
    url = f"/api/products/{product['id']}"
    assert (await gateway.patch(url, json={"price": "8.00"},
                                headers=admin_headers)).status_code == 200
    assert (await gateway.delete(url, headers=admin_headers)).status_code == 204
    events = await asyncio.to_thread(_product_event_data, secrets, product["id"])
    assert [e["type"] for e in events] == ["product.created", "product.updated",
                                           "product.deleted"]
    # The payload is the contract of docs/contracts.md, unchanged by the outbox.
    for event, price, active in zip(events, ("7.00", "8.00", "8.00"), (True, True, False),
                                    strict=True):
        assert set(event) == EVENT_FIELDS, event
        assert event["product_id"] == product["id"] and event["name"] == product["name"]
        assert event["category"] == product["category"]
        assert (event["price"], event["active"]) == (price, active)
        assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
    # Each event went through the outbox and was published by the app's relay.
    rows = await products_db.fetch(
        "SELECT event_type, published_at, attempts FROM product_outbox WHERE product_id = $1"
        " ORDER BY id", uuid.UUID(product["id"]))
    assert [(r["event_type"], r["published_at"] is not None, r["attempts"]) for r in rows] == [
        ("product.created", True, 0), ("product.updated", True, 0),
        ("product.deleted", True, 0)]


async def test_an_event_whose_publish_failed_is_published_by_the_drainer(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], secrets: dict[str, str],
        products_db: asyncpg.Pool) -> None:
    # A product written as the service writes it (the row and its event in one transaction),
    # then published through a sidecar that refuses the call (the real daprd, wrong API
    # token): the publish fails after the commit, as it does in a pub/sub outage.
    async with products_db.acquire() as conn, conn.transaction():
        row = await products_repository.create(
            conn, product_id=uuid.uuid4(), name=f"Outbox {unique_word()}", description="",
            price=Decimal("3.50"), category="Test", image_url=None, available=None,
            version=None)
        await products_service.record_event(conn, "product.created", products_service.to_read(row))
    product_id = row["id"]
    refused = Sidecar(sidecar_url("products"), "not-the-api-token")
    try:
        assert await products_outbox.OUTBOX.flush(products_db, refused, key=product_id) == 0
    finally:
        await refused.aclose()
    left = await products_db.fetchrow("SELECT id, attempts, published_at FROM product_outbox"
                                      " WHERE product_id = $1", product_id)
    assert left["attempts"] == 1 and left["published_at"] is None
    try:
        async def published() -> bool:
            return bool(await products_db.fetchval(
                "SELECT published_at IS NOT NULL FROM product_outbox WHERE id = $1", left["id"]))

        await eventually(published, timeout=20)  # the relay also sweeps every 2 s
        [event] = await asyncio.to_thread(_product_event_data, secrets, str(product_id))
        assert set(event) == EVENT_FIELDS
        assert (event["type"], event["name"], event["price"], event["category"],
                event["active"]) == ("product.created", row["name"], "3.50", "Test", True)
    finally:
        r = await gateway.delete(f"/api/products/{product_id}", headers=admin_headers)
        assert r.status_code == 204, r.text
