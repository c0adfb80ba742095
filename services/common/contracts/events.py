"""The events on the `pubsub` component: their names and one payload type each.

Publishers build these types and write them to their outbox; subscribers decode
`CloudEvent.data` into the same type with `decode`, which ignores members it does not know
(a publisher may add one without breaking anybody). Money is a Decimal, carried as a string
with two places ("19.99"). Topics are in services.common.names.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import msgspec


class EventType(StrEnum):
    """The CloudEvent type of every event, also sent as `type` in its data."""

    ORDER_CREATED = "order.created"
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    STOCK_CHANGED = "stock.changed"
    USER_REGISTERED = "user.registered"
    USER_VERIFICATION_REQUESTED = "user.verification_requested"
    USER_PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 (a name)
    PRODUCT_CREATED = "product.created"
    PRODUCT_UPDATED = "product.updated"
    PRODUCT_DELETED = "product.deleted"


class CancelReason(StrEnum):
    """Why an order was cancelled (`reason` of order.cancelled)."""

    OUT_OF_STOCK = "out_of_stock"
    PAYMENT_DECLINED = "payment_declined"
    INVENTORY_UNAVAILABLE = "inventory_unavailable"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    CANCELLED_BY_ADMIN = "cancelled_by_admin"
    NOT_SHIPPED_IN_TIME = "not_shipped_in_time"


# -- topic `orders` ------------------------------------------------------------------------------
class OrderLine(msgspec.Struct, kw_only=True, frozen=True):
    product_id: uuid.UUID
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderEvent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """order.created / confirmed / cancelled / shipped / delivered: the whole order as it
    is after the step. `reason` only on order.cancelled (a CancelReason); `carrier` and
    `tracking_number` from order.shipped on, when the admin who shipped it gave them."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None
    status: str
    total: Decimal
    currency: str
    items: list[OrderLine]
    occurred_at: datetime
    reason: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None


# -- topic `users` ---------------------------------------------------------------------------------
class UserRegistered(msgspec.Struct, kw_only=True, frozen=True):
    """user.registered: the welcome e-mail goes to `email`."""

    user_id: uuid.UUID
    email: str
    name: str
    occurred_at: datetime | None = None
    # The e-mail verification link the welcome e-mail carries (see AccountLinkRequested).
    link_id: uuid.UUID | None = None
    verify_token: Annotated[str, msgspec.Meta(
        min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    verify_expires_at: datetime | None = None


class AccountLinkRequested(msgspec.Struct, kw_only=True, frozen=True):
    """user.verification_requested / user.password_reset_requested: e-mail `email` the
    single-use link carrying `token` (valid until `expires_at`). Only the token's digest is
    kept by users; `link_id` names the link (one e-mail per link)."""

    user_id: uuid.UUID
    email: str
    name: str
    link_id: uuid.UUID
    token: Annotated[str, msgspec.Meta(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
    expires_at: datetime


# -- topic `inventory` -----------------------------------------------------------------------------
class StockChanged(msgspec.Struct, kw_only=True, frozen=True):
    """stock.changed: a product's stock after a change; `version` orders the events of one
    product. Bounded by the columns the read model keeps them in, so an absurd event is
    refused as malformed rather than failing in a database."""

    product_id: uuid.UUID
    on_hand: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    reserved: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    available: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    version: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None = None


# -- topic `products` ------------------------------------------------------------------------------
class ProductEvent(msgspec.Struct, kw_only=True, frozen=True):
    """product.created / updated / deleted: the product as it is after the change."""

    product_id: uuid.UUID
    name: str
    price: str
    category: str
    active: bool
    occurred_at: datetime


_T = TypeVar("_T", bound=msgspec.Struct)


def decode(data: Mapping[str, Any], payload_type: type[_T]) -> _T:
    """`CloudEvent.data` as `payload_type`; msgspec.ValidationError when it is not one."""
    return msgspec.convert(data, payload_type, strict=False)
