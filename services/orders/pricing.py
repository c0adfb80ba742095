"""Prices come from the catalog, never from the client: the lines of a new order, merged,
looked up in products and priced."""

from __future__ import annotations

import uuid
from decimal import Decimal

import msgspec

from services.common.contracts import internal
from services.common.contracts.internal import ProductBatchItem, ProductBatchRead
from services.common.dapr import Sidecar
from services.common.errors import InvalidInput, UpstreamError
from services.common.money import CENT, MAX_AMOUNT, to_money
from services.common.names import PRODUCTS
from services.orders import repository
from services.orders.schemas import MAX_QUANTITY, OrderCreate

CURRENCY = "USD"

Lines = list[tuple[uuid.UUID, int]]


def merge_lines(body: OrderCreate) -> Lines:
    """Merge lines naming the same product (first position kept); InvalidInput past the cap."""
    merged: dict[uuid.UUID, int] = {}
    for line in body.items:
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    too_many = [str(pid) for pid, qty in merged.items() if qty > MAX_QUANTITY]
    if too_many:
        raise InvalidInput(f"A product can be ordered at most {MAX_QUANTITY} times per order",
                           errors=[{"field": "items",
                                    "message": f"quantity over {MAX_QUANTITY} for {pid}"}
                                   for pid in too_many])
    return list(merged.items())


async def fetch_catalog(sidecar: Sidecar, ids: list[uuid.UUID]) -> dict[uuid.UUID,
                                                                          ProductBatchItem]:
    """The products by id, from the catalog through Dapr service invocation."""
    r = await sidecar.invoke(PRODUCTS, "POST", internal.PRODUCT_BATCH,
                             json=internal.ProductBatchRequest(ids=ids))
    if r.status_code >= 300:
        raise UpstreamError(f"{PRODUCTS} answered {r.status_code} to the catalog look-up: "
                            f"{r.text[:200]}")
    try:
        found = msgspec.json.decode(r.content, type=ProductBatchRead)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"Unexpected answer from {PRODUCTS}: {exc}") from exc
    return {item.id: item for item in found.items}


def price_lines(lines: Lines, catalog: dict[uuid.UUID, ProductBatchItem],
                ) -> tuple[list[repository.NewLine], Decimal]:
    """Price each line from the catalog; InvalidInput names unknown or inactive products."""
    errors: list[dict[str, str]] = []
    priced: list[repository.NewLine] = []
    for index, (pid, qty) in enumerate(lines):
        product = catalog.get(pid)
        if product is None:
            errors.append({"field": f"items[{index}].product_id",
                           "message": f"unknown product {pid}"})
            continue
        if not product.active:
            errors.append({"field": f"items[{index}].product_id",
                           "message": f"product {pid} is not available"})
            continue
        try:
            unit = to_money(product.price)
        except ValueError as exc:
            raise InvalidInput(f"product {pid} has no valid price") from exc
        priced.append(repository.NewLine(product_id=pid, name=product.name, unit_price=unit,
                                         quantity=qty, line_total=(unit * qty).quantize(CENT)))
    if errors:
        raise InvalidInput("; ".join(e["message"] for e in errors), errors=errors)
    total = sum((ln.line_total for ln in priced), Decimal("0.00")).quantize(CENT)
    if total > MAX_AMOUNT:
        raise InvalidInput(f"The order total may not exceed {MAX_AMOUNT}")
    return priced, total
