"""Who asked for an order's status change, and the shipment details that came with it.

The API does not change an order's status itself: it raises the request into the order's
workflow, which applies it later in `lifecycle.transition`. So the request is written down
here first (`record`, after the request was found allowed), and the transition reads it back
in its own transaction (`apply`): the order's carrier and tracking number and the audit
actor are set there, so the new status, the shipping details and the audit row
(services/common/audit.py) commit together, or not at all.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from services.common import audit
from services.common.auth import Identity
from services.common.contracts.events import CancelReason

Text100 = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                      pattern=r"^[^\x00-\x1f\x7f]+$")]
# The statuses a request can ask for (the others are the workflow's own).
REQUESTABLE = ("shipped", "delivered", "cancelled")
# A cancellation is the requester's only when the workflow gives the requester's reason
# (a decline that races with the request stays the platform's).
REQUESTED_CANCEL_REASONS = ("cancelled_by_admin", "cancelled_by_customer")


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    """What an admin may give when shipping: the carrier and its tracking number."""

    carrier: Text100 | None = None
    tracking_number: Text100 | None = None


async def record(conn: Any, order_id: uuid.UUID, status: str, identity: Identity,
                 shipment: Shipment | None) -> None:
    """Write down who asked for `status` (the last request for a status wins)."""
    if status not in REQUESTABLE:
        return
    shipment = shipment or Shipment()
    await conn.execute(
        "INSERT INTO order_status_requests (order_id, status, actor_id, actor_email, actor_role,"
        " carrier, tracking_number) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (order_id, status) DO UPDATE SET actor_id = EXCLUDED.actor_id,"
        " actor_email = EXCLUDED.actor_email, actor_role = EXCLUDED.actor_role,"
        " carrier = EXCLUDED.carrier, tracking_number = EXCLUDED.tracking_number,"
        " requested_at = now()",
        order_id, status, identity.user_id, identity.email or "", identity.role,
        shipment.carrier, shipment.tracking_number)


async def cancel_reason(conn: Any, order_id: uuid.UUID) -> str | None:
    """The reason a cancel already asked for would give (None if nobody asked): the
    checkout looks before it charges, so an order cancelled while pending is never paid."""
    role = await conn.fetchval(
        "SELECT actor_role FROM order_status_requests WHERE order_id = $1"
        " AND status = 'cancelled'", order_id)
    if role is None:
        return None
    return (CancelReason.CANCELLED_BY_ADMIN if role == "admin"
            else CancelReason.CANCELLED_BY_CUSTOMER).value


async def apply(conn: Any, order_id: uuid.UUID, to: str, reason: str | None) -> None:
    """In the transition's transaction, before the status update: make the requester (an
    admin) the audit actor and, for a shipment, store the carrier and tracking number."""
    if to not in REQUESTABLE or (to == "cancelled" and reason not in REQUESTED_CANCEL_REASONS):
        return
    if to != "cancelled" and reason is not None:  # e.g. delivery_assumed: nobody asked
        return
    row = await conn.fetchrow(
        "SELECT actor_id, actor_email, actor_role, carrier, tracking_number"
        " FROM order_status_requests WHERE order_id = $1 AND status = $2", order_id, to)
    if row is None:
        return
    if row["actor_role"] == "admin":
        await audit.set_actor_local(conn, (str(row["actor_id"]), row["actor_email"]))
    if to == "shipped" and (row["carrier"] or row["tracking_number"]):
        await conn.execute(
            "UPDATE orders SET carrier = $2, tracking_number = $3 WHERE id = $1"
            " AND status = 'processing'", order_id, row["carrier"], row["tracking_number"])
