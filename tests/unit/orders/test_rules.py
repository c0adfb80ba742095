"""Pure orders logic: line merging, request hashing, pricing, who may request what, and
the order event payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.common.contracts.internal import ProductBatchItem
from services.common.errors import Conflict, Forbidden, InvalidInput
from services.orders import idempotency, lifecycle, pricing
from services.orders.schemas import OrderCreate

P1, P2 = uuid.uuid4(), uuid.uuid4()
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def body(items: list[dict[str, Any]], **extra: Any) -> OrderCreate:
    raw = {"items": items, "shipping_address": ADDRESS, **extra}
    return msgspec.json.decode(msgspec.json.encode(raw), type=OrderCreate)


def test_duplicate_lines_are_merged_in_first_seen_order() -> None:
    b = body([{"product_id": str(P1), "quantity": 2}, {"product_id": str(P2), "quantity": 1},
              {"product_id": str(P1), "quantity": 3}])
    assert pricing.merge_lines(b) == [(P1, 5), (P2, 1)]


def test_merged_quantity_over_the_cap_is_invalid() -> None:
    b = body([{"product_id": str(P1), "quantity": 600}, {"product_id": str(P1), "quantity": 600}])
    with pytest.raises(InvalidInput):
        pricing.merge_lines(b)


@pytest.mark.parametrize("raw", [
    {"items": []},
    {"items": [{"product_id": str(P1), "quantity": 0}]},
    {"items": [{"product_id": str(P1), "quantity": -1}]},
    {"items": [{"product_id": str(P1), "quantity": 1001}]},
    {"items": [{"product_id": "not-a-uuid", "quantity": 1}]},
    {"items": [{"product_id": str(P1), "quantity": 1, "price": "0.01"}]},
    {"items": [{"product_id": str(P1), "quantity": 1}], "total": "0.01"},
    {"items": [{"product_id": str(P1), "quantity": 1}], "status": "delivered"},
    {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(51)]},
    {"items": [{"product_id": str(P1), "quantity": 1}], "payment_method": "visa"},
])
def test_bad_bodies_are_rejected(raw: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({"shipping_address": ADDRESS, **raw}),
                            type=OrderCreate)


def test_request_hash_ignores_line_order_but_not_content() -> None:
    a = body([{"product_id": str(P1), "quantity": 1}, {"product_id": str(P2), "quantity": 2}])
    b = body([{"product_id": str(P2), "quantity": 2}, {"product_id": str(P1), "quantity": 1}])
    c = body([{"product_id": str(P2), "quantity": 3}, {"product_id": str(P1), "quantity": 1}])
    d = body([{"product_id": str(P1), "quantity": 1}, {"product_id": str(P2), "quantity": 2}],
             payment_method="tok_decline")
    h = idempotency.request_hash
    assert h(pricing.merge_lines(a), a) == h(pricing.merge_lines(b), b)
    assert h(pricing.merge_lines(a), a) != h(pricing.merge_lines(c), c)
    assert h(pricing.merge_lines(a), a) != h(pricing.merge_lines(d), d)


def product(pid: uuid.UUID, name: str, price: str, *, active: bool = True) -> ProductBatchItem:
    return ProductBatchItem(id=pid, name=name, price=price, category="x", active=active,
                            stock_quantity=1)


def test_prices_and_totals_come_from_the_catalog() -> None:
    catalog = {P1: product(P1, "Mug", "12.34"), P2: product(P2, "Pen", "0.1")}
    lines, total = pricing.price_lines([(P1, 3), (P2, 7)], catalog)
    assert [(ln.name, ln.unit_price, ln.line_total) for ln in lines] == [
        ("Mug", Decimal("12.34"), Decimal("37.02")), ("Pen", Decimal("0.10"), Decimal("0.70"))]
    assert total == Decimal("37.72")


def test_unknown_and_inactive_products_are_named() -> None:
    catalog = {P1: product(P1, "Old", "1.00", active=False)}
    with pytest.raises(InvalidInput) as info:
        pricing.price_lines([(P1, 1), (P2, 1)], catalog)
    fields = [e["field"] for e in info.value.errors or []]
    assert fields == ["items[0].product_id", "items[1].product_id"]


def test_a_total_past_the_money_cap_is_invalid() -> None:
    catalog = {P1: product(P1, "Yacht", "99999999.99")}
    with pytest.raises(InvalidInput):
        pricing.price_lines([(P1, 2)], catalog)


@pytest.mark.parametrize(("current", "target", "admin", "error"), [
    ("pending", "cancelled", False, None),
    ("processing", "cancelled", False, None),
    ("shipped", "cancelled", False, Conflict),
    ("cancelled", "cancelled", True, Conflict),
    ("processing", "shipped", True, None),
    ("processing", "shipped", False, Forbidden),
    ("pending", "shipped", True, Conflict),
    ("shipped", "delivered", True, None),
    ("processing", "delivered", True, Conflict),
    ("delivered", "delivered", True, Conflict),
    ("pending", "processing", True, Conflict),
    ("processing", "pending", True, Conflict),
])
def test_who_may_request_which_status(current: str, target: str, admin: bool,
                                      error: type[Exception] | None) -> None:
    if error is None:
        lifecycle.can_request(current, target, is_admin=admin)
    else:
        with pytest.raises(error):
            lifecycle.can_request(current, target, is_admin=admin)


def test_event_payload_carries_money_as_strings() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    order = {"id": P1, "user_id": P2, "user_email": "a@b.c", "total": Decimal("3.50"),
             "currency": "USD"}
    items = [{"product_id": P2, "name": "Pen", "quantity": 2, "unit_price": Decimal("1.75"),
              "line_total": Decimal("3.50")}]
    payload = lifecycle.event_payload(order, items, status="cancelled", reason="out_of_stock",
                                    at=at)
    assert msgspec.to_builtins(payload) == {
        "order_id": str(P1), "user_id": str(P2), "user_email": "a@b.c", "status": "cancelled",
        "reason": "out_of_stock", "total": "3.50", "currency": "USD",
        "items": [{"product_id": str(P2), "name": "Pen", "quantity": 2, "unit_price": "1.75",
                   "line_total": "3.50"}],
        "occurred_at": "2026-01-01T00:00:00Z",
    }
