"""What the notifications service reads (event payloads, requests) and answers (its API).

Event payloads are read tolerantly (unknown fields ignored: publishers may add fields);
client requests reject unknown fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

Kind = Literal["welcome", "order_confirmed", "order_cancelled", "order_shipped",
               "order_delivered"]
Status = Literal["pending", "sent", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "sent", "failed")


# -- event payloads (topic `users` and `orders`, see ARCHITECTURE.md) -----------------------
class OrderLine(msgspec.Struct, kw_only=True):
    product_id: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderEvent(msgspec.Struct, kw_only=True):
    """order.created / confirmed / cancelled / shipped / delivered."""

    order_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None = None
    email: str | None = None
    status: str = ""
    reason: str | None = None
    total: Decimal
    currency: str = "USD"
    items: list[OrderLine] = []
    occurred_at: str | None = None

    @property
    def recipient(self) -> str | None:
        return self.user_email or self.email


class UserRegistered(msgspec.Struct, kw_only=True):
    """user.registered."""

    user_id: uuid.UUID
    email: str | None = None
    user_email: str | None = None
    name: str = ""
    occurred_at: str | None = None

    @property
    def recipient(self) -> str | None:
        return self.email or self.user_email


# -- API ---------------------------------------------------------------------------------------
class NotificationUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """PATCH /api/notifications/{id}: mark read (true) or unread (false)."""

    read: bool


class NotificationRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    kind: Kind
    subject: str
    order_id: uuid.UUID | None
    recipient: str
    status: Status
    attempts: int
    read: bool
    read_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    # The plain-text rendering of the e-mail (the feed shows it; the e-mail itself is HTML).
    body: str
    # Why sending failed; shown to admins only.
    last_error: str | None = None


class NotificationPage(msgspec.Struct, kw_only=True):
    items: list[NotificationRead]
    total: int
    page: int
    page_size: int


class DeadLetterRead(msgspec.Struct, kw_only=True):
    event_id: str
    topic: str
    type: str
    source: str
    data: dict[str, object] | None
    deliveries: int
    received_at: datetime
    last_received_at: datetime
    # Redeliveries by an admin (POST .../redeliver) and how the last one went.
    redeliveries: int = 0
    last_redelivered_at: datetime | None = None
    last_redelivery_outcome: str | None = None


class DeadLetterPage(msgspec.Struct, kw_only=True):
    items: list[DeadLetterRead]
    total: int
    page: int
    page_size: int
