"""What clients send to the basket service, what it answers, and what it keeps in the Dapr
state store (msgspec Structs, one per use).

Inputs reject unknown fields: a client sets a product and a quantity, never a price or a name
(those come from the catalog when the basket is read).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from services.common.contracts.orders import ShippingAddress

MAX_LINES = 50
MAX_LINE_QUANTITY = 99
MAX_ITEMS = 500  # units over all lines
CURRENCY = "USD"
# 256 random bits, URL-safe base64 without padding (secrets.token_urlsafe(32)).
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 (a pattern, not a secret)

Token = Annotated[str, msgspec.Meta(pattern=TOKEN_PATTERN)]
Availability = Literal["in_stock", "fewer_than_asked", "unavailable"]
Kind = Literal["guest", "user"]


# -- requests -----------------------------------------------------------------------------------
class LineSet(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """PUT /api/basket/items/{product_id}: the line's new quantity (0 removes it)."""

    quantity: Annotated[int, msgspec.Meta(ge=0, le=MAX_LINE_QUANTITY)]


class LineAdd(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """POST /api/basket/items/{product_id}/add: units to add to the line (1 by default)."""

    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QUANTITY)] = 1


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """POST /api/basket/merge: the guest basket's token, folded into the caller's basket."""

    guest_token: Token


class CheckoutRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """POST /api/basket/checkout: the basket's lines become an order. The address and the
    payment method follow the orders service's own rules (the same types)."""

    shipping_address: ShippingAddress
    payment_method: Annotated[str, msgspec.Meta(pattern="^tok_[A-Za-z0-9_]{1,60}$")] = "tok_visa"


# -- answers ------------------------------------------------------------------------------------
class LineRead(msgspec.Struct, kw_only=True):
    """One line as the catalog prices it now. `price_changed` compares with the price when
    the line was last set; `line_total` of an unavailable line counts nowhere."""

    product_id: uuid.UUID
    name: str | None
    quantity: int
    unit_price: str | None
    line_total: str
    availability: Availability
    available_quantity: int
    price_changed: bool
    price_when_added: str | None


class BasketRead(msgspec.Struct, kw_only=True):
    """A basket: `item_count` counts units; `subtotal` sums the lines that can be ordered."""

    kind: Kind
    items: list[LineRead]
    item_count: int
    subtotal: str
    currency: str
    updated_at: datetime | None
    expires_at: datetime | None


class GuestCreated(msgspec.Struct, kw_only=True):
    """POST /api/basket/guest: send `token` back in the X-Basket-Token header."""

    token: str
    expires_in: int
    basket: BasketRead


# -- what the state store holds (one document per basket) ---------------------------------------
class StoredLine(msgspec.Struct, kw_only=True):
    product_id: uuid.UUID
    quantity: int
    # The catalog price when the line was last set, to tell the shopper it changed since.
    price: str | None = None


class CheckoutRecord(msgspec.Struct, kw_only=True):
    key: str
    order_id: uuid.UUID


class PendingCheckout(msgspec.Struct, kw_only=True):
    """Written before the order is asked for: a retry with the same key orders these lines
    (the orders service then answers with the order it already made)."""

    key: str
    lines: list[StoredLine]


class BasketDoc(msgspec.Struct, kw_only=True):
    lines: list[StoredLine] = msgspec.field(default_factory=list)
    updated_at: datetime | None = None
    pending: PendingCheckout | None = None
    checkouts: list[CheckoutRecord] = msgspec.field(default_factory=list)
    merged: list[str] = msgspec.field(default_factory=list)  # guest basket ids folded in

