"""The `/internal/...` endpoints: their paths, requests and responses.

Reached only by Dapr service invocation from the apps each route names (services.common.
internal.require_caller), never through the gateway. The endpoint declares these types as
its body and answer; the caller encodes the request and decodes the answer with them.
Refusals carry an ErrorCode (services.common.contracts.errors).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

# -- inventory: reservations (orders) and stock (products) ----------------------------------------
RESERVATIONS = "internal/reservations"
STOCK = "internal/stock"

MAX_RESERVATION_QUANTITY = 1_000_000
MAX_RESERVATION_LINES = 100
# on_hand + reserved stay far below the int4 limit of inventory's columns.
OnHand = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]

ReservationStatus = Literal["reserved", "committed", "released", "expired", "out_of_stock"]


class ReservationAction(StrEnum):
    """POST internal/reservations/{order_id}/{action}; each is idempotent."""

    COMMIT = "commit"
    RELEASE = "release"
    CONFIRM = "confirm"


def reservation_path(order_id: uuid.UUID, action: ReservationAction) -> str:
    return f"{RESERVATIONS}/{order_id}/{action.value}"


def stock_path(product_id: uuid.UUID) -> str:
    return f"{STOCK}/{product_id}"


class ReservationLine(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    product_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_RESERVATION_QUANTITY)]


class ReservationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST internal/reservations: hold every line of one order, or none (409
    `out_of_stock` naming the `unavailable` products)."""

    order_id: uuid.UUID
    items: Annotated[list[ReservationLine],
                     msgspec.Meta(min_length=1, max_length=MAX_RESERVATION_LINES)]


class ReservationRead(msgspec.Struct, kw_only=True):
    order_id: uuid.UUID
    status: ReservationStatus


class StockUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PUT internal/stock/{product_id} (products), and PUT /api/inventory/{id} (admin)."""

    on_hand: OnHand


class StockRead(msgspec.Struct, kw_only=True):
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int


# -- payments: charges and refunds (orders) -------------------------------------------------------
CHARGES = "internal/charges"
REFUNDS = "internal/refunds"

IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                             pattern=r"^[\x21-\x7e]+$")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
PaymentMethod = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# Money arrives as a string ("19.99") or a number; services.common.money parses it.
AmountIn = str | int | float

ChargeStatus = Literal["succeeded", "declined"]


class ChargeCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST internal/charges: charge once per idempotency_key."""

    idempotency_key: IdempotencyKey
    order_id: uuid.UUID
    user_id: uuid.UUID
    amount: AmountIn
    currency: Currency
    payment_method: PaymentMethod


class ChargeRead(msgspec.Struct, kw_only=True, omit_defaults=True):
    charge_id: uuid.UUID
    order_id: uuid.UUID
    status: ChargeStatus
    amount: str
    currency: str
    refunded_amount: str
    decline_reason: str | None = None


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST internal/refunds: refund once per idempotency_key."""

    idempotency_key: IdempotencyKey
    charge_id: uuid.UUID
    amount: AmountIn


class RefundRead(msgspec.Struct, kw_only=True):
    refund_id: uuid.UUID
    charge_id: uuid.UUID
    status: Literal["succeeded"]
    amount: str


# -- products: the catalog look-up (orders) -------------------------------------------------------
PRODUCT_BATCH = "internal/products/batch"
MAX_BATCH = 500


class ProductBatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """POST internal/products/batch: the current state of many products."""

    ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=MAX_BATCH)]


class ProductBatchItem(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    price: str
    category: str
    active: bool
    stock_quantity: int


class ProductBatchRead(msgspec.Struct):
    items: list[ProductBatchItem]


# -- users: the keys that verify access tokens (the gateway) -------------------------------------
# Public as well (GET /api/users/.well-known/jwks.json); the gateway reads it through Dapr.
JWKS = "api/users/.well-known/jwks.json"


class Jwk(msgspec.Struct, kw_only=True, frozen=True):
    """One public signing key (RFC 7517), an EC P-256 key for ES256."""

    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str = "sig"


class JwkSet(msgspec.Struct, frozen=True):
    keys: list[Jwk]
