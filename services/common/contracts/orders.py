"""The orders service's public API as other services call it: POST /api/orders and the order
it answers (the basket places its checkout's order this way, as the shopper).

The orders service declares these as its own request and response (services/orders/
schemas.py re-exports them); a caller encodes the request and decodes the answer with the
same types. Inputs reject unknown fields: a client can never set a price, a total, a status
or an owner. Money is a string with two places.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

ORDERS_PATH = "api/orders"

Status = Literal["pending", "processing", "shipped", "delivered", "cancelled"]

MAX_LINES = 50
MAX_QUANTITY = 1000

Text200 = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OrderLineCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One line of a new order: a catalog product and how many."""

    product_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class ShippingAddress(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """Where to ship. `country` is an ISO 3166-1 alpha-2 code."""

    line1: Text200
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    country: Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{2}$")]
    name: Text200 | None = None
    line2: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    region: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class OrderCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Body of POST /api/orders. Duplicate product ids are merged (quantities added)."""

    items: Annotated[list[OrderLineCreate], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    shipping_address: ShippingAddress
    # Sandbox card tokens (tok_visa, tok_decline, tok_insufficient_funds, ...).
    payment_method: Annotated[str, msgspec.Meta(pattern="^tok_[A-Za-z0-9_]{1,60}$")] = "tok_visa"


class OrderItemRead(msgspec.Struct, frozen=True):
    product_id: uuid.UUID
    name: str
    quantity: int
    unit_price: str
    line_total: str


class StatusEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Status
    at: datetime
    reason: str | None = None


class OrderRead(msgspec.Struct, frozen=True):
    """An order as the API shows it; `history` lists every status it went through."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: Status
    cancel_reason: str | None
    total: str
    currency: str
    payment_method: str
    shipping_address: dict[str, str]
    items: list[OrderItemRead]
    history: list[StatusEntry]
    created_at: datetime
    updated_at: datetime
    user_email: str | None = None
    # Set once shipped, when the admin gave them.
    carrier: str | None = None
    tracking_number: str | None = None
    # The payment: the charge once paid, the refund once refunded.
    charge_id: str | None = None
    refund_id: str | None = None
