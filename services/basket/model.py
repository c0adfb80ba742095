"""The basket's rules, as pure functions over the stored document (unit-tested without a
stack): limits, merging, pricing a basket from the catalog, settling a checkout."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal

from services.basket.schemas import (
    CURRENCY,
    MAX_ITEMS,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    Availability,
    BasketDoc,
    BasketRead,
    CheckoutRecord,
    Kind,
    LineRead,
    StoredLine,
)
from services.common.contracts.errors import ErrorCode
from services.common.contracts.internal import ProductBatchItem
from services.common.internal import CodedError
from services.common.money import CENT, fmt, to_money

# How many finished checkouts (and merged guest baskets) a basket remembers, so that a
# retried checkout or merge finds its first outcome.
REMEMBERED = 20

# A change to a basket, applied in place; False when it changed nothing (nothing is saved).
Apply = Callable[[BasketDoc], bool]


class LimitReached(CodedError):
    """The change would break a basket limit (409: it depends on what the basket holds)."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(409, code, detail)


def find(doc: BasketDoc, product_id: uuid.UUID) -> StoredLine | None:
    return next((line for line in doc.lines if line.product_id == product_id), None)


def units(doc: BasketDoc) -> int:
    return sum(line.quantity for line in doc.lines)


def set_line(doc: BasketDoc, product_id: uuid.UUID, quantity: int, price: str | None) -> bool:
    """Set a line to `quantity` (0 removes it) at the catalog's current `price`."""
    line = find(doc, product_id)
    if quantity <= 0:
        if line is None:
            return False
        doc.lines.remove(line)
        return True
    if line is not None and line.quantity == quantity and line.price == price:
        return False
    if quantity > MAX_LINE_QUANTITY:
        raise LimitReached(ErrorCode.LINE_LIMIT,
                           f"A line holds at most {MAX_LINE_QUANTITY} units of a product")
    if line is None:
        if len(doc.lines) >= MAX_LINES:
            raise LimitReached(ErrorCode.BASKET_FULL, f"A basket holds at most {MAX_LINES} lines")
        line = StoredLine(product_id=product_id, quantity=0)
        doc.lines.append(line)
    if units(doc) - line.quantity + quantity > MAX_ITEMS:
        if line.quantity == 0:
            doc.lines.remove(line)
        raise LimitReached(ErrorCode.ITEMS_LIMIT,
                           f"A basket holds at most {MAX_ITEMS} units in all")
    line.quantity = quantity
    line.price = price
    return True


def add_units(doc: BasketDoc, product_id: uuid.UUID, quantity: int, price: str | None) -> bool:
    """Add `quantity` units to a line (created when missing)."""
    line = find(doc, product_id)
    return set_line(doc, product_id, (line.quantity if line else 0) + quantity, price)


def clear(doc: BasketDoc) -> bool:
    """Empty the basket (a checkout in progress keeps its own copy of the lines)."""
    if not doc.lines:
        return False
    doc.lines = []
    return True


def merge(target: BasketDoc, source: BasketDoc, source_id: str) -> bool:
    """Fold a guest basket into `target`: quantities added, limits applied by clamping
    (a line stops at MAX_LINE_QUANTITY, lines past MAX_LINES and units past MAX_ITEMS are
    left out). False, and nothing changes, when `source_id` was merged already."""
    if source_id in target.merged:
        return False
    for line in source.lines:
        room = MAX_ITEMS - units(target)
        if room <= 0:
            break
        mine = find(target, line.product_id)
        if mine is None:
            if len(target.lines) >= MAX_LINES:
                continue
            mine = StoredLine(product_id=line.product_id, quantity=0, price=line.price)
            target.lines.append(mine)
        mine.quantity = min(MAX_LINE_QUANTITY, mine.quantity + min(line.quantity, room))
    target.merged = [*target.merged, source_id][-REMEMBERED:]
    return True


def checkout_of(doc: BasketDoc | None, key: str) -> CheckoutRecord | None:
    if doc is None:
        return None
    return next((c for c in doc.checkouts if c.key == key), None)


def settle(doc: BasketDoc, key: str, order_id: uuid.UUID, ordered: Iterable[StoredLine]) -> None:
    """The order for `key` exists: take its lines out of the basket (what was added since
    stays) and remember the key, so a retry returns that order."""
    for line in ordered:
        mine = find(doc, line.product_id)
        if mine is not None:
            mine.quantity -= line.quantity
            if mine.quantity <= 0:
                doc.lines.remove(mine)
    if doc.pending is not None and doc.pending.key == key:
        doc.pending = None
    doc.checkouts = [*doc.checkouts, CheckoutRecord(key=key, order_id=order_id)][-REMEMBERED:]


def order_key(user_id: uuid.UUID, checkout_key: str) -> str:
    """The orders Idempotency-Key of a basket checkout: one per shopper and checkout key."""
    digest = hashlib.sha256(f"basket\n{user_id}\n{checkout_key}".encode()).hexdigest()
    return f"basket-{digest}"


def unavailable(lines: Iterable[StoredLine], catalog: Mapping[uuid.UUID, ProductBatchItem],
                ) -> list[uuid.UUID]:
    """Lines whose product is unknown or deleted (no order can contain them)."""
    out = []
    for line in lines:
        item = catalog.get(line.product_id)
        if item is None or not item.active:
            out.append(line.product_id)
    return out


def _price(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        return to_money(raw)
    except ValueError:
        return None


def view(kind: Kind, doc: BasketDoc | None, catalog: Mapping[uuid.UUID, ProductBatchItem],
         ttl: timedelta) -> BasketRead:
    """The basket priced by the catalog as it is now."""
    doc = doc or BasketDoc()
    items: list[LineRead] = []
    subtotal = Decimal("0.00")
    for line in doc.lines:
        item = catalog.get(line.product_id)
        price = _price(item.price) if item else None
        availability: Availability
        if item is None or not item.active or price is None:
            availability, available = "unavailable", 0
        else:
            available = max(item.stock_quantity, 0)
            availability = "in_stock" if available >= line.quantity else "fewer_than_asked"
        total = (price * line.quantity).quantize(CENT) if price is not None else Decimal("0.00")
        if availability != "unavailable":
            subtotal += total
        before = _price(line.price)
        items.append(LineRead(
            product_id=line.product_id, name=item.name if item else None,
            quantity=line.quantity, unit_price=fmt(price) if price is not None else None,
            line_total=fmt(total), availability=availability,
            available_quantity=available,
            price_changed=before is not None and price is not None and before != price,
            price_when_added=fmt(before) if before is not None else None))
    expires = doc.updated_at + ttl if doc.updated_at else None
    return BasketRead(kind=kind, items=items, item_count=units(doc), subtotal=fmt(subtotal),
                      currency=CURRENCY, updated_at=doc.updated_at, expires_at=expires)
