"""Inputs and outputs of the inventory service (msgspec Structs, one per use)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

# on_hand + reserved stay far below the int4 limit of the columns.
OnHand = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
MAX_QUANTITY = 1_000_000
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
MAX_LINES = 100

ReservationStatus = Literal["reserved", "committed", "released", "expired", "out_of_stock"]


class ReservationLine(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    product_id: uuid.UUID
    quantity: Quantity


class ReservationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /internal/reservations: hold every line of one order, or none."""

    order_id: uuid.UUID
    items: Annotated[list[ReservationLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class ReservationRead(msgspec.Struct, kw_only=True):
    order_id: uuid.UUID
    status: ReservationStatus


class StockSet(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PUT /api/inventory/{id} (admin) and PUT /internal/stock/{id} (products)."""

    on_hand: OnHand


class StockRead(msgspec.Struct, kw_only=True):
    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int


class StockChanged(msgspec.Struct, kw_only=True):
    """Payload of `stock.changed` on topic `inventory`; `version` orders the events."""

    product_id: uuid.UUID
    on_hand: int
    reserved: int
    available: int
    version: int
