"""What the notifications service stores and answers.

The events it reads are typed in services.common.contracts.events; client requests here
reject unknown fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

Kind = Literal["welcome", "order_confirmed", "order_cancelled", "order_shipped",
               "order_delivered", "verify_email", "password_reset"]
Status = Literal["pending", "sent", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "sent", "failed")


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered e-mail, ready to be stored and sent."""

    kind: Kind
    user_id: uuid.UUID
    order_id: uuid.UUID | None
    recipient: str
    subject: str
    text: str
    html: str
    # What the e-mail is about when that is neither an order nor the user: an account link.
    fact: uuid.UUID | None = None

    @property
    def dedupe_key(self) -> str:
        """The fact this e-mail reports: one e-mail per order step, one welcome per user,
        one per account link."""
        return f"{self.kind}:{self.fact or self.order_id or self.user_id}"


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
