"""Machine-readable error codes of the internal endpoints, and the body that carries them.

An internal endpoint answers a refusal as problem+json with a `code` member (and extra
members such as `unavailable`), raised as services.common.internal.CodedError; the caller
reads it back with `read_problem`.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class ErrorCode(StrEnum):
    """Every `code` an internal endpoint (or the basket's public API) can answer with."""

    # inventory
    OUT_OF_STOCK = "out_of_stock"
    RESERVATION_RELEASED = "reservation_released"
    RESERVATION_OUT_OF_STOCK = "reservation_out_of_stock"
    RESERVATION_COMMITTED = "reservation_committed"
    BELOW_RESERVED = "below_reserved"
    # payments
    CHARGE_IN_PROGRESS = "charge_in_progress"
    REFUND_IN_PROGRESS = "refund_in_progress"
    CHARGE_NOT_REFUNDABLE = "charge_not_refundable"
    REFUND_EXCEEDS_CHARGE = "refund_exceeds_charge"
    REFUND_FAILED = "refund_failed"
    # basket (public answers of /api/basket, for the storefront and other clients)
    BASKET_FULL = "basket_full"
    LINE_LIMIT = "line_limit"
    ITEMS_LIMIT = "items_limit"
    PRODUCT_UNAVAILABLE = "product_unavailable"
    UNAVAILABLE_ITEMS = "unavailable_items"
    BASKET_EMPTY = "basket_empty"
    BASKET_BUSY = "basket_busy"


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """The members of an error answer a caller acts on. `code` is set by our services;
    `dapr_error_code` only by daprd itself (the call never reached the app)."""

    status: int | None = None
    code: str | None = None
    detail: str = ""
    unavailable: list[str] = []
    dapr_error_code: str | None = msgspec.field(default=None, name="errorCode")

    @property
    def from_dapr(self) -> bool:
        return self.dapr_error_code is not None


_decoder = msgspec.json.Decoder(Problem)


def read_problem(content: bytes) -> Problem:
    """The problem body of an error answer; an empty Problem when it is not one."""
    try:
        return _decoder.decode(content)
    except msgspec.DecodeError:
        return Problem()
