"""Request and event payloads of the products service (msgspec, no stack)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec
import pytest

from services.common.contracts import events
from services.common.contracts.events import StockChanged
from services.common.contracts.internal import ProductBatchRequest
from services.common.errors import InvalidInput
from services.products.schemas import ProductCreate, ProductPartialUpdate
from services.products.service import _edits, parse_price


def decode(raw: bytes) -> ProductCreate:
    return msgspec.json.decode(raw, type=ProductCreate)


def test_create_accepts_a_price_as_string_or_number() -> None:
    for raw in (b'"19.99"', b"19.99", b"20"):
        p = decode(b'{"name": "Lamp", "category": "Home", "price": ' + raw + b"}")
        assert parse_price("price", p.price) in (Decimal("19.99"), Decimal("20.00"))


@pytest.mark.parametrize("body", [
    b'{"name": "Lamp", "category": "Home", "price": "1", "stock_quantity": 3}',
    b'{"name": "Lamp", "category": "Home", "price": "1", "id": "x"}',
    b'{"name": "", "category": "Home", "price": "1"}',
    b'{"name": "Lamp", "category": "Home", "price": "1", "stock": -1}',
    b'{"name": "Lamp", "category": "Home", "price": "1", "image_url": "javascript:x"}',
    b'{"name": "Lamp", "category": "Home", "price": true}',
    b'{"name": "Lamp", "category": "Home"}',
])
def test_create_refuses_unknown_missing_and_malformed_fields(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        decode(body)


@pytest.mark.parametrize("price", ["-1", "1.001", "abc", "Infinity", "1e12"])
def test_bad_prices_are_field_errors(price: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_price("price", price)
    assert err.value.errors == [{"field": "price", "message": err.value.errors[0]["message"]}]


def test_patch_changes_only_what_is_sent_and_can_clear_the_image() -> None:
    patch = msgspec.json.decode(b'{"price": 5, "image_url": null}', type=ProductPartialUpdate)
    assert _edits(patch) == {"price": Decimal("5.00"), "image_url": None}
    blank = msgspec.json.decode(b'{"name": "   "}', type=ProductPartialUpdate)
    with pytest.raises(InvalidInput):
        _edits(blank)


def test_batch_request_is_bounded() -> None:
    ids = [str(uuid.uuid4()) for _ in range(501)]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode({"ids": ids}), type=ProductBatchRequest)


def test_stock_changed_payload_ignores_members_it_does_not_know() -> None:
    pid = uuid.uuid4()
    event = events.decode({"type": "stock.changed", "product_id": str(pid), "on_hand": 5,
                           "reserved": 2, "available": 3, "version": 7, "extra": 1},
                          StockChanged)
    assert (event.product_id, event.available, event.version) == (pid, 3, 7)
    without_version = events.decode({"product_id": str(pid), "on_hand": 0, "reserved": 0,
                                     "available": 0}, StockChanged)
    assert without_version.version is None
    with pytest.raises(msgspec.ValidationError):
        events.decode({"product_id": "nope", "on_hand": 1, "reserved": 0, "available": 1},
                      StockChanged)
