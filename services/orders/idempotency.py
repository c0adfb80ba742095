"""Idempotency-Key on POST /api/orders: a retried request returns the order the first
attempt created, and the same key with another body is refused.

The key is unique per customer in the database (orders_idempotency); what the request asked
for is stored with it as a digest independent of line order and key order.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import asyncpg
import msgspec

from services.common.errors import InvalidInput
from services.orders.pricing import Lines
from services.orders.schemas import OrderCreate

# A replay re-checks the workflow only for orders older than this: a younger one is still
# being scheduled by the request that created it.
REPLAY_RECHECK_AFTER_S = 5.0


def request_hash(lines: Lines, body: OrderCreate) -> str:
    """A digest of what the request asks for, independent of line order and key order."""
    canonical = {
        "items": sorted([str(pid), qty] for pid, qty in lines),
        "shipping_address": msgspec.to_builtins(body.shipping_address),
        "payment_method": body.payment_method,
    }
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()


def check_replay(row: asyncpg.Record, digest: str | None) -> bool:
    """The order `row` answers a retried request with this digest; InvalidInput when the key
    was used with another request. True when its workflow is worth checking (a pending
    order past the time its first request needed to schedule one)."""
    if row["request_hash"] != digest:
        raise InvalidInput("This Idempotency-Key was already used with a different request")
    age = (datetime.now(UTC) - row["created_at"]).total_seconds()
    return bool(row["status"] == "pending" and age > REPLAY_RECHECK_AFTER_S)
