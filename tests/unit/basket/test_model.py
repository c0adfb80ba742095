"""The basket's rules without a stack: limits, merging, pricing, settling a checkout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from services.basket import model
from services.basket.catalog import VERSION_KEY
from services.basket.schemas import (
    MAX_ITEMS,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    BasketDoc,
    CheckoutRequest,
    LineAdd,
    LineSet,
    MergeRequest,
    PendingCheckout,
    StoredLine,
)
from services.basket.service import guest_key
from services.basket.settings import load
from services.common.contracts.internal import ProductBatchItem
from services.common.internal import CodedError
from services.common.settings import ConfigError

P1, P2, P3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def doc(*lines: tuple[uuid.UUID, int]) -> BasketDoc:
    return BasketDoc(lines=[StoredLine(product_id=p, quantity=q, price="1.00") for p, q in lines])


def quantities(d: BasketDoc) -> dict[uuid.UUID, int]:
    return {ln.product_id: ln.quantity for ln in d.lines}


def item(pid: uuid.UUID, price: str = "2.50", *, active: bool = True,
         stock: int = 10) -> ProductBatchItem:
    return ProductBatchItem(id=pid, name=f"P {pid.hex[:4]}", price=price, category="test",
                            active=active, stock_quantity=stock)


# -- changing lines -------------------------------------------------------------------------------
def test_set_add_and_remove() -> None:
    d = BasketDoc()
    assert model.set_line(d, P1, 2, "2.50")
    assert model.add_units(d, P1, 3, "2.50")
    assert model.add_units(d, P2, 1, "1.00")
    assert quantities(d) == {P1: 5, P2: 1}
    assert not model.set_line(d, P1, 5, "2.50"), "no change, nothing to save"
    assert model.set_line(d, P1, 0, None)
    assert not model.set_line(d, P1, 0, None), "removing a missing line changes nothing"
    assert quantities(d) == {P2: 1}
    assert model.clear(d) and d.lines == [] and not model.clear(d)


def test_setting_a_line_takes_the_current_price() -> None:
    d = doc((P1, 1))
    assert model.set_line(d, P1, 1, "3.00")
    assert d.lines[0].price == "3.00"


@pytest.mark.parametrize(("code", "change"), [
    ("line_limit", lambda d: model.add_units(d, P1, MAX_LINE_QUANTITY, "1.00")),
    ("line_limit", lambda d: model.set_line(d, P1, MAX_LINE_QUANTITY + 1, "1.00")),
])
def test_a_line_is_bounded(code: str, change: object) -> None:
    d = doc((P1, 1))
    with pytest.raises(CodedError) as err:
        change(d)  # type: ignore[operator]
    assert (err.value.status, err.value.code) == (409, code)
    assert quantities(d) == {P1: 1}


def test_the_51st_line_is_refused_and_nothing_changes() -> None:
    d = doc(*((uuid.uuid4(), 1) for _ in range(MAX_LINES)))
    with pytest.raises(CodedError) as err:
        model.set_line(d, P1, 1, "1.00")
    assert err.value.code == "basket_full" and len(d.lines) == MAX_LINES
    assert model.set_line(d, d.lines[0].product_id, 2, "1.00"), "existing lines still change"


def test_the_units_in_all_are_bounded() -> None:
    per = MAX_LINE_QUANTITY
    d = doc(*((uuid.uuid4(), per) for _ in range(MAX_ITEMS // per)))
    room = MAX_ITEMS - model.units(d)
    with pytest.raises(CodedError) as err:
        model.set_line(d, P1, room + 1, "1.00")
    assert err.value.code == "items_limit"
    assert model.find(d, P1) is None, "the refused new line is not left behind"
    assert model.set_line(d, P1, room, "1.00") and model.units(d) == MAX_ITEMS


# -- merging --------------------------------------------------------------------------------------
def test_merge_adds_quantities_with_limits_and_only_once() -> None:
    mine = doc((P1, 2), (P2, 90))
    guest = doc((P1, 3), (P2, 20), (P3, 1))
    assert model.merge(mine, guest, "g1")
    assert quantities(mine) == {P1: 5, P2: MAX_LINE_QUANTITY, P3: 1}
    assert not model.merge(mine, guest, "g1")
    assert quantities(mine) == {P1: 5, P2: MAX_LINE_QUANTITY, P3: 1}


def test_merge_leaves_out_lines_past_the_last() -> None:
    mine = doc(*((uuid.uuid4(), 1) for _ in range(MAX_LINES)))
    assert model.merge(mine, doc((P1, 1)), "g")
    assert len(mine.lines) == MAX_LINES and model.find(mine, P1) is None


def test_merge_remembers_a_bounded_number_of_guests() -> None:
    mine = BasketDoc()
    for i in range(model.REMEMBERED + 5):
        model.merge(mine, BasketDoc(), f"g{i}")
    assert len(mine.merged) == model.REMEMBERED and mine.merged[-1] == f"g{model.REMEMBERED + 4}"


# -- pricing --------------------------------------------------------------------------------------
def test_view_prices_from_the_catalog_and_flags_changes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    d = doc((P1, 2), (P2, 3), (P3, 1))
    d.updated_at = now
    catalog = {P1: item(P1, "1.00"), P2: item(P2, "4.00", stock=1),
               P3: item(P3, "9.99", active=False)}
    view = model.view("user", d, catalog, timedelta(days=90))
    first, second, third = view.items
    assert (first.unit_price, first.line_total, first.availability) == ("1.00", "2.00",
                                                                        "in_stock")
    assert not first.price_changed
    assert (second.line_total, second.availability, second.available_quantity) == (
        "12.00", "fewer_than_asked", 1)
    assert second.price_changed and second.price_when_added == "1.00"
    assert (third.availability, third.available_quantity) == ("unavailable", 0)
    assert view.subtotal == "14.00" and view.item_count == 6
    assert view.expires_at == now + timedelta(days=90)


def test_view_of_a_product_the_catalog_does_not_know() -> None:
    view = model.view("guest", doc((P1, 1)), {}, timedelta(days=7))
    (only,) = view.items
    assert (only.name, only.unit_price, only.availability, only.line_total) == (
        None, None, "unavailable", "0.00")
    assert view.subtotal == "0.00"
    assert model.view("guest", None, {}, timedelta(days=7)).expires_at is None


def test_unavailable_names_unknown_and_deleted_products() -> None:
    catalog = {P1: item(P1), P2: item(P2, active=False)}
    assert model.unavailable(doc((P1, 1), (P2, 1), (P3, 1)).lines, catalog) == [P2, P3]


# -- checkout -------------------------------------------------------------------------------------
def test_settle_takes_out_what_was_ordered_and_remembers_the_key() -> None:
    d = doc((P1, 3), (P2, 1))
    ordered = [StoredLine(product_id=P1, quantity=2), StoredLine(product_id=P2, quantity=1)]
    d.pending = PendingCheckout(key="k", lines=ordered)
    order = uuid.uuid4()
    model.settle(d, "k", order, ordered)
    assert quantities(d) == {P1: 1}, "units added after the checkout began stay"
    assert d.pending is None
    found = model.checkout_of(d, "k")
    assert found is not None and found.order_id == order
    assert model.checkout_of(d, "other") is None and model.checkout_of(None, "k") is None


def test_settle_keeps_a_bounded_history() -> None:
    d = BasketDoc()
    for i in range(model.REMEMBERED + 3):
        model.settle(d, f"k{i}", uuid.uuid4(), [])
    assert len(d.checkouts) == model.REMEMBERED
    assert model.checkout_of(d, "k0") is None and model.checkout_of(d, "k22") is not None


def test_order_key_is_one_per_shopper_and_checkout_key() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert model.order_key(a, "k") == model.order_key(a, "k")
    assert len({model.order_key(a, "k"), model.order_key(b, "k"), model.order_key(a, "j")}) == 3
    key = model.order_key(a, "x" * 200)
    assert len(key) <= 200 and key.isascii() and " " not in key


# -- inputs and settings --------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "kind"), [
    (b'{"quantity": -1}', LineSet), (b'{"quantity": 100}', LineSet),
    (b'{"quantity": 1, "price": "0.01"}', LineSet), (b'{"quantity": 0}', LineAdd),
    (b'{"guest_token": "short"}', MergeRequest),
    (b'{"shipping_address": {"line1": "x", "city": "y", "postal_code": "1", "country": "USA"}}',
     CheckoutRequest),
])
def test_inputs_refuse_bad_values(body: bytes, kind: type) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=kind)


def test_add_defaults_to_one_unit() -> None:
    assert msgspec.json.decode(b"{}", type=LineAdd).quantity == 1


def test_guest_keys_do_not_hold_the_token() -> None:
    token = "A" * 43
    assert token not in guest_key(token) and guest_key(token).startswith("guest:")
    assert guest_key(token) != guest_key("B" * 43)


def test_catalog_version_key_is_the_one_products_writes() -> None:
    from services.products.cache import VERSION_KEY as PRODUCTS_VERSION_KEY

    assert VERSION_KEY == PRODUCTS_VERSION_KEY


def test_ttl_settings() -> None:
    defaults = load({})
    assert (defaults.guest_ttl_seconds, defaults.user_ttl_seconds) == (7 * 86400, 90 * 86400)
    assert load({"BASKET_GUEST_TTL_SECONDS": "60"}).guest_ttl == timedelta(seconds=60)
    with pytest.raises(ConfigError):
        load({"BASKET_USER_TTL_SECONDS": "0"})
