"""Inputs and outputs of the payments service (msgspec Structs, one per use)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                             pattern=r"^[\x21-\x7e]+$")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
PaymentMethod = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
# Money arrives as a string ("19.99") or a number; services.common.money parses it.
AmountIn = str | int | float

ChargeStatus = Literal["succeeded", "declined"]


class ChargeCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /internal/charges."""

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
    """POST /internal/refunds."""

    idempotency_key: IdempotencyKey
    charge_id: uuid.UUID
    amount: AmountIn


class RefundRead(msgspec.Struct, kw_only=True):
    refund_id: uuid.UUID
    charge_id: uuid.UUID
    status: Literal["succeeded"]
    amount: str
