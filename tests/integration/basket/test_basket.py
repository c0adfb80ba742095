"""The basket on the real stack, through the gateway: guest and signed-in baskets kept in the
Dapr state store, priced by the catalog, merged at login and checked out into one order.

Stored facts are read where they live: the basket document through the basket sidecar's
state API, its expiry with Redis' own TTL, the orders in the orders database.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from services.basket.model import order_key
from tests.conftest import Customer, database, is_problem, sidecar_url
from tests.shop import ADDRESS, create_product, mint_customer, wait_order

BASKET = "/api/basket"
TOKEN = "X-Basket-Token"
DAY = 24 * 3600

orders_db = database("orders")


async def new_guest(gateway: httpx.AsyncClient) -> dict[str, str]:
    r = await gateway.post(f"{BASKET}/guest")
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["token"]) >= 43 and body["expires_in"] == 7 * DAY
    assert body["basket"]["kind"] == "guest" and body["basket"]["items"] == []
    return {TOKEN: body["token"]}


async def put_line(gateway: httpx.AsyncClient, who: dict[str, str], product: str,
                   quantity: int) -> dict[str, Any]:
    r = await gateway.put(f"{BASKET}/items/{product}", headers=who, json={"quantity": quantity})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def lines(basket: dict[str, Any]) -> dict[str, int]:
    return {item["product_id"]: item["quantity"] for item in basket["items"]}


def line(basket: dict[str, Any], product: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in basket["items"] if i["product_id"] == product)
    return found


async def stored_etag(dapr_headers: dict[str, str],
                      key: str) -> tuple[dict[str, Any] | None, str | None]:
    """The basket document and its ETag, as the state API of basket's own sidecar returns
    them."""
    async with httpx.AsyncClient(base_url=sidecar_url("basket"), headers=dapr_headers) as c:
        r = await c.get(f"/v1.0/state/statestore/{key}")
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204 or not r.content:
        return None, None
    return r.json(), r.headers.get("etag")


async def stored(dapr_headers: dict[str, str], key: str) -> dict[str, Any] | None:
    return (await stored_etag(dapr_headers, key))[0]


async def redis_ttl(secrets: dict[str, str], key: str) -> int:
    """TTL (seconds) of a raw Redis key, over RESP."""
    host, port = secrets["redis-host"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for args in (("AUTH", secrets["redis-password"]), ("TTL", key)):
            writer.write(f"*{len(args)}\r\n".encode() + b"".join(
                f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args))
            await writer.drain()
            reply = await reader.readline()
        assert reply.startswith(b":"), reply
        return int(reply[1:])
    finally:
        writer.close()


def guest_key(who: dict[str, str]) -> str:
    return f"guest:{hashlib.sha256(who[TOKEN].encode()).hexdigest()}"


@pytest.fixture(scope="module")
async def product(gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> str:
    return await create_product(gateway, admin_headers, price="12.50", stock=500, name="Basket")


@pytest.fixture(scope="module")
async def other(gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> str:
    return await create_product(gateway, admin_headers, price="3.20", stock=500, name="Other")


# -- guest CRUD -----------------------------------------------------------------------------------
async def test_guest_basket_create_read_update_remove(gateway: httpx.AsyncClient, product: str,
                                                      other: str) -> None:
    guest = await new_guest(gateway)
    empty = (await gateway.get(BASKET, headers=guest)).json()
    assert (empty["items"], empty["item_count"], empty["subtotal"]) == ([], 0, "0.00")

    basket = await put_line(gateway, guest, product, 2)
    first = line(basket, product)
    assert first["name"].startswith("Basket") and first["unit_price"] == "12.50"
    assert (first["quantity"], first["line_total"], first["availability"]) == (2, "25.00",
                                                                               "in_stock")
    assert first["price_changed"] is False and first["price_when_added"] == "12.50"
    basket = await put_line(gateway, guest, other, 3)
    assert (basket["item_count"], basket["subtotal"], basket["currency"]) == (5, "34.60", "USD")
    assert basket["expires_at"] is not None

    r = await gateway.post(f"{BASKET}/items/{product}/add", headers=guest, json={"quantity": 4})
    assert r.status_code == 200 and lines(r.json()) == {product: 6, other: 3}
    r = await gateway.post(f"{BASKET}/items/{product}/add", headers=guest, json={})
    assert lines(r.json()) == {product: 7, other: 3}
    assert lines(await put_line(gateway, guest, other, 0)) == {product: 7}

    r = await gateway.delete(f"{BASKET}/items/{product}", headers=guest)
    assert r.status_code == 200 and r.json()["items"] == []
    await put_line(gateway, guest, other, 1)
    r = await gateway.delete(BASKET, headers=guest)
    assert r.status_code == 200 and r.json()["items"] == []
    assert (await gateway.get(BASKET, headers=guest)).json()["items"] == []
    assert r.headers["cache-control"] == "no-store"


# -- isolation ------------------------------------------------------------------------------------
async def test_a_basket_is_reachable_only_by_its_owner(gateway: httpx.AsyncClient, product: str,
                                                       customer: Customer,
                                                       secrets: dict[str, str]) -> None:
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 2)
    await put_line(gateway, customer.headers, product, 5)

    other_guest = await new_guest(gateway)
    assert (await gateway.get(BASKET, headers=other_guest)).json()["items"] == []
    forged = {TOKEN: guest[TOKEN][:-4] + ("AAAA" if not guest[TOKEN].endswith("AAAA") else "BBBB")}
    for method in ("GET", "DELETE"):
        is_problem(await gateway.request(method, BASKET, headers=forged), 404)
    is_problem(await gateway.put(f"{BASKET}/items/{product}", headers=forged,
                                 json={"quantity": 1}), 404)
    # Another shopper sees their own basket, never the guest's or the first customer's.
    stranger = mint_customer(secrets)
    assert (await gateway.get(BASKET, headers=stranger.headers)).json()["items"] == []
    with_token = {**stranger.headers, **guest}
    assert (await gateway.get(BASKET, headers=with_token)).json()["items"] == []
    assert lines((await gateway.get(BASKET, headers=guest)).json()) == {product: 2}
    assert lines((await gateway.get(BASKET, headers=customer.headers)).json()) == {product: 5}
    body = is_problem(await gateway.get(BASKET), 401)
    assert "X-Basket-Token" in body["detail"]


# -- merge ----------------------------------------------------------------------------------------
async def test_merge_at_login_adds_quantities_once(gateway: httpx.AsyncClient, product: str,
                                                   other: str, customer: Customer,
                                                   dapr_headers: dict[str, str]) -> None:
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 2)
    await put_line(gateway, guest, other, 98)
    await put_line(gateway, customer.headers, other, 3)

    r = await gateway.post(f"{BASKET}/merge", headers=customer.headers,
                           json={"guest_token": guest[TOKEN]})
    assert r.status_code == 200, r.text
    merged = lines(r.json())
    assert merged == {product: 2, other: 99}  # 3 + 98 stops at the per-line limit
    assert r.json()["kind"] == "user"
    is_problem(await gateway.get(BASKET, headers=guest), 404)
    assert await stored(dapr_headers, guest_key(guest)) is None

    again = await gateway.post(f"{BASKET}/merge", headers=customer.headers,
                               json={"guest_token": guest[TOKEN]})
    assert again.status_code == 200 and lines(again.json()) == merged
    is_problem(await gateway.post(f"{BASKET}/merge", headers=guest,
                                  json={"guest_token": guest[TOKEN]}), 401)


async def test_a_merge_retried_after_a_crash_adds_nothing(
        gateway: httpx.AsyncClient, product: str, secrets: dict[str, str],
        dapr_headers: dict[str, str]) -> None:
    """The user's basket remembers the guest baskets it took in: if the guest basket was not
    deleted (a crash after the merge was saved), merging it again adds nothing."""
    shopper = mint_customer(secrets)
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 4)
    before = await stored(dapr_headers, guest_key(guest))
    r = await gateway.post(f"{BASKET}/merge", headers=shopper.headers,
                           json={"guest_token": guest[TOKEN]})
    assert lines(r.json()) == {product: 4}
    async with httpx.AsyncClient(base_url=sidecar_url("basket"), headers=dapr_headers) as c:
        restored = await c.post("/v1.0/state/statestore",
                                json=[{"key": guest_key(guest), "value": before}])
        assert restored.status_code == 204, restored.text
    r = await gateway.post(f"{BASKET}/merge", headers=shopper.headers,
                           json={"guest_token": guest[TOKEN]})
    assert lines(r.json()) == {product: 4}
    is_problem(await gateway.get(BASKET, headers=guest), 404)


# -- catalog at read time -------------------------------------------------------------------------
async def test_a_price_change_is_shown(gateway: httpx.AsyncClient,
                                       admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="10.00", stock=20,
                                   name="Repriced")
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 3)
    r = await gateway.patch(f"/api/products/{product}", headers=admin_headers,
                            json={"price": "12.00"})
    assert r.status_code == 200, r.text
    item = line((await gateway.get(BASKET, headers=guest)).json(), product)
    assert (item["unit_price"], item["line_total"]) == ("12.00", "36.00")
    assert (item["price_changed"], item["price_when_added"]) == (True, "10.00")
    # Setting the line again takes the new price in.
    item = line(await put_line(gateway, guest, product, 3), product)
    assert (item["price_changed"], item["price_when_added"]) == (False, "12.00")


async def test_stock_short_of_the_quantity_is_shown(gateway: httpx.AsyncClient,
                                                    admin_headers: dict[str, str]) -> None:
    product = await create_product(gateway, admin_headers, price="1.00", stock=2, name="Scarce")
    guest = await new_guest(gateway)
    item = line(await put_line(gateway, guest, product, 5), product)
    assert (item["availability"], item["available_quantity"]) == ("fewer_than_asked", 2)


async def test_a_deleted_product_is_unavailable_and_refused_at_checkout(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], product: str,
        customer: Customer) -> None:
    doomed = await create_product(gateway, admin_headers, price="5.00", stock=10, name="Doomed")
    await put_line(gateway, customer.headers, product, 1)
    await put_line(gateway, customer.headers, doomed, 2)
    r = await gateway.delete(f"/api/products/{doomed}", headers=admin_headers)
    assert r.status_code == 204, r.text

    basket = (await gateway.get(BASKET, headers=customer.headers)).json()
    gone = line(basket, doomed)
    assert (gone["availability"], gone["available_quantity"]) == ("unavailable", 0)
    assert basket["subtotal"] == "12.50"  # the unavailable line counts nowhere
    body = is_problem(await gateway.put(f"{BASKET}/items/{doomed}", headers=customer.headers,
                                        json={"quantity": 3}), 409)
    assert body["code"] == "product_unavailable"
    body = is_problem(await gateway.post(f"{BASKET}/checkout", headers={
        **customer.headers, "Idempotency-Key": f"deleted-{uuid.uuid4()}"},
        json={"shipping_address": ADDRESS}), 409)
    assert body["code"] == "unavailable_items" and body["unavailable"] == [doomed]

    await gateway.delete(f"{BASKET}/items/{doomed}", headers=customer.headers)
    r = await gateway.post(f"{BASKET}/checkout", headers={
        **customer.headers, "Idempotency-Key": f"after-{uuid.uuid4()}"},
        json={"shipping_address": ADDRESS})
    assert r.status_code == 201, r.text


# -- checkout -------------------------------------------------------------------------------------
async def order_count(db: asyncpg.Pool, user_id: str) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM orders WHERE user_id = $1",
                                   uuid.UUID(user_id))
    return count


async def test_concurrent_retries_of_one_checkout_make_one_order(
        gateway: httpx.AsyncClient, product: str, other: str, secrets: dict[str, str],
        orders_db: asyncpg.Pool) -> None:
    shopper = mint_customer(secrets)
    await put_line(gateway, shopper.headers, product, 2)
    await put_line(gateway, shopper.headers, other, 1)
    key = f"checkout-{uuid.uuid4()}"
    headers = {**shopper.headers, "Idempotency-Key": key}
    body = {"shipping_address": ADDRESS, "payment_method": "tok_visa"}
    answers = await asyncio.gather(*(gateway.post(f"{BASKET}/checkout", headers=headers,
                                                  json=body) for _ in range(10)))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 200: 9}, [(r.status_code, r.text[:200]) for r in answers]
    ids = {r.json()["id"] for r in answers}
    assert len(ids) == 1
    assert await order_count(orders_db, shopper.id) == 1
    order = answers[0].json()
    assert order["total"] == "28.20" and order["user_id"] == shopper.id
    assert {(i["product_id"], i["quantity"]) for i in order["items"]} == {(product, 2),
                                                                          (other, 1)}

    done = await wait_order(gateway, shopper.headers, order["id"], {"processing"})
    assert done["status"] == "processing"
    assert (await gateway.get(BASKET, headers=shopper.headers)).json()["items"] == []
    late = await gateway.post(f"{BASKET}/checkout", headers=headers, json=body)
    assert late.status_code == 200 and late.json()["id"] == order["id"]
    assert late.headers["location"] == f"/api/orders/{order['id']}"
    empty = is_problem(await gateway.post(f"{BASKET}/checkout", headers={
        **shopper.headers, "Idempotency-Key": f"next-{uuid.uuid4()}"}, json=body), 409)
    assert empty["code"] == "basket_empty"
    assert await order_count(orders_db, shopper.id) == 1


async def test_a_checkout_interrupted_after_the_order_finishes_on_retry(
        gateway: httpx.AsyncClient, product: str, other: str, secrets: dict[str, str],
        dapr_headers: dict[str, str], orders_db: asyncpg.Pool) -> None:
    """The state a crash between "order created" and "basket emptied" leaves: the basket
    holds the pending checkout and the order exists. A retry with the key returns that order
    and empties the basket; a later checkout with a new key still works."""
    shopper = mint_customer(secrets)
    await put_line(gateway, shopper.headers, product, 1)
    key = f"crash-{uuid.uuid4()}"
    doc, etag = await stored_etag(dapr_headers, f"user:{shopper.id}")
    assert doc is not None and etag
    doc["pending"] = {"key": key, "lines": doc["lines"]}
    async with httpx.AsyncClient(base_url=sidecar_url("basket"), headers=dapr_headers) as c:
        r = await c.post("/v1.0/state/statestore", json=[{
            "key": f"user:{shopper.id}", "value": doc, "etag": etag,
            "options": {"concurrency": "first-write"}}])
        assert r.status_code == 204, r.text
    # What the crashed checkout had asked orders for, under the key it derives.
    first = await gateway.post("/api/orders", headers={
        **shopper.headers, "Idempotency-Key": order_key(uuid.UUID(shopper.id), key)},
        json={"items": [{"product_id": product, "quantity": 1}], "shipping_address": ADDRESS,
              "payment_method": "tok_visa"})
    assert first.status_code == 201, first.text
    # Meanwhile the shopper added something: the retry orders what the checkout held.
    await put_line(gateway, shopper.headers, other, 2)

    r = await gateway.post(f"{BASKET}/checkout", headers={**shopper.headers,
                                                          "Idempotency-Key": key},
                           json={"shipping_address": ADDRESS, "payment_method": "tok_visa"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first.json()["id"]
    assert lines((await gateway.get(BASKET, headers=shopper.headers)).json()) == {other: 2}
    assert await order_count(orders_db, shopper.id) == 1

    r = await gateway.post(f"{BASKET}/checkout", headers={
        **shopper.headers, "Idempotency-Key": f"later-{uuid.uuid4()}"},
        json={"shipping_address": ADDRESS})
    assert r.status_code == 201, r.text
    assert (await gateway.get(BASKET, headers=shopper.headers)).json()["items"] == []
    assert await order_count(orders_db, shopper.id) == 2


async def test_a_checkout_orders_refuses_can_be_corrected_under_the_same_key(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], secrets: dict[str, str],
        orders_db: asyncpg.Pool) -> None:
    """orders' own validation answers the shopper as it is (here its cap on an order's
    total), no order is made, and the same key then orders the corrected basket."""
    dear = await create_product(gateway, admin_headers, price="9999999.99", stock=50,
                                name="Dear")
    shopper = mint_customer(secrets)
    await put_line(gateway, shopper.headers, dear, 11)
    headers = {**shopper.headers, "Idempotency-Key": f"cap-{uuid.uuid4()}"}
    body = {"shipping_address": ADDRESS}
    refused = is_problem(await gateway.post(f"{BASKET}/checkout", headers=headers, json=body),
                         422)
    assert "total" in refused["detail"]
    assert await order_count(orders_db, shopper.id) == 0
    await put_line(gateway, shopper.headers, dear, 1)
    r = await gateway.post(f"{BASKET}/checkout", headers=headers, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["total"] == "9999999.99"
    assert await order_count(orders_db, shopper.id) == 1


async def test_checkout_needs_a_signed_in_shopper_and_valid_input(
        gateway: httpx.AsyncClient, product: str, secrets: dict[str, str]) -> None:
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 1)
    is_problem(await gateway.post(f"{BASKET}/checkout", headers={**guest,
                                                                 "Idempotency-Key": "g-1"},
                                  json={"shipping_address": ADDRESS}), 401)
    shopper = mint_customer(secrets)
    await put_line(gateway, shopper.headers, product, 1)
    headers = {**shopper.headers, "Idempotency-Key": f"bad-{uuid.uuid4()}"}
    for body in ({}, {"shipping_address": {**ADDRESS, "country": "Narnia"}},
                 {"shipping_address": ADDRESS, "payment_method": "cash"},
                 {"shipping_address": ADDRESS, "total": "0.01"}):
        r = await gateway.post(f"{BASKET}/checkout", headers=headers, json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        is_problem(r)
    # Nothing was ordered: the basket still holds the line.
    assert lines((await gateway.get(BASKET, headers=shopper.headers)).json()) == {product: 1}


# -- TTL ------------------------------------------------------------------------------------------
async def test_baskets_expire_through_state_ttl(gateway: httpx.AsyncClient, product: str,
                                                secrets: dict[str, str],
                                                dapr_headers: dict[str, str]) -> None:
    """Dapr's Redis state store keeps no TTL in what its state API returns (components-contrib
    1.18 sets EXPIRE but GET reports no ttlExpireTime), so the document is read through the
    state API and its expiry from Redis itself (key `<app id>||<key>`)."""
    guest = await new_guest(gateway)
    await put_line(gateway, guest, product, 1)
    doc = await stored(dapr_headers, guest_key(guest))
    assert doc is not None and doc["lines"][0]["quantity"] == 1
    ttl = await redis_ttl(secrets, f"basket||{guest_key(guest)}")
    assert 7 * DAY - 120 < ttl <= 7 * DAY

    shopper = mint_customer(secrets)
    await put_line(gateway, shopper.headers, product, 1)
    assert await stored(dapr_headers, f"user:{shopper.id}") is not None
    ttl = await redis_ttl(secrets, f"basket||user:{shopper.id}")
    assert 90 * DAY - 120 < ttl <= 90 * DAY


# -- bad input ------------------------------------------------------------------------------------
async def test_bad_input_is_a_clear_4xx(gateway: httpx.AsyncClient, product: str,
                                        admin_headers: dict[str, str]) -> None:
    guest = await new_guest(gateway)
    url = f"{BASKET}/items/{product}"
    for quantity in (-1, 100, 10**12, "many", None, 1.5):
        is_problem(await gateway.put(url, headers=guest, json={"quantity": quantity}))
    for quantity in (0, -3, 100):
        is_problem(await gateway.post(f"{url}/add", headers=guest, json={"quantity": quantity}))
    is_problem(await gateway.put(url, headers=guest, json={"quantity": 1, "price": "0.01"}), 400)
    is_problem(await gateway.put(url, headers={**guest, "content-type": "application/json"},
                                 content=b"{not json"), 400)
    is_problem(await gateway.put(f"{BASKET}/items/not-a-uuid", headers=guest,
                                 json={"quantity": 1}), 404)
    is_problem(await gateway.put(f"{BASKET}/items/{uuid.uuid4()}", headers=guest,
                                 json={"quantity": 1}), 404)
    is_problem(await gateway.get(BASKET, headers={TOKEN: "short"}), 400)
    is_problem(await gateway.get(BASKET, headers={TOKEN: "x" * 43}), 404)
    is_problem(await gateway.put(url, json={"quantity": 1}), 401)
    is_problem(await gateway.post(f"{BASKET}/merge", headers=admin_headers,
                                  json={"guest_token": "nope"}), 400)

    # A line past the last: 50 lines fit, the 51st is refused and nothing changes.
    made = await asyncio.gather(*(gateway.post("/api/products", headers=admin_headers, json={
        "name": f"Line {i} {uuid.uuid4().hex[:6]}", "price": "1.00", "category": "test"})
        for i in range(51)))
    ids = [r.json()["id"] for r in made]
    for pid in ids[:50]:
        await put_line(gateway, guest, pid, 1)
    body = is_problem(await gateway.put(f"{BASKET}/items/{ids[50]}", headers=guest,
                                        json={"quantity": 1}), 409)
    assert body["code"] == "basket_full"
    assert len((await gateway.get(BASKET, headers=guest)).json()["items"]) == 50
    body = is_problem(await gateway.post(f"{BASKET}/items/{ids[0]}/add", headers=guest,
                                         json={"quantity": 99}), 409)
    assert body["code"] == "line_limit"


# -- concurrency ----------------------------------------------------------------------------------
async def test_twenty_concurrent_adds_all_count(gateway: httpx.AsyncClient, product: str,
                                                secrets: dict[str, str]) -> None:
    for who in (await new_guest(gateway), mint_customer(secrets).headers):
        await put_line(gateway, who, product, 3)
        started = time.monotonic()
        answers = await asyncio.gather(*(gateway.post(f"{BASKET}/items/{product}/add",
                                                      headers=who, json={"quantity": 1})
                                         for _ in range(20)))
        assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers
                                                                if r.status_code != 200]
        assert lines((await gateway.get(BASKET, headers=who)).json()) == {product: 23}
        assert time.monotonic() - started < 20



# -- the platform around it -----------------------------------------------------------------------
async def test_basket_is_in_the_aggregated_health_and_the_public_api_document(
        gateway: httpx.AsyncClient) -> None:
    health = (await gateway.get("/health")).json()
    assert health["services"]["basket"] == "ok"
    doc = (await gateway.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, method in (("/api/basket", "get"), ("/api/basket/guest", "post"),
                         ("/api/basket/items/{product_id}", "put"),
                         ("/api/basket/items/{product_id}/add", "post"),
                         ("/api/basket/merge", "post"), ("/api/basket/checkout", "post")):
        assert method in paths[path], (path, method)
    params = {p["name"].lower() for p in paths["/api/basket"]["get"]["parameters"]}
    assert "x-basket-token" in params
    checkout = paths["/api/basket/checkout"]["post"]
    assert {"200", "201", "409"} <= set(checkout["responses"])
    assert checkout["security"] == [{"BearerAuth": []}]
