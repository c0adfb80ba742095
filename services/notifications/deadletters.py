"""Messages that reached the dead-letter topic (from any subscriber): recorded so none is
lost silently, and listed for admins."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import asyncpg
import msgspec
import structlog

from services.notifications import repository
from services.notifications.feed import check_page
from services.notifications.schemas import DeadLetterPage, DeadLetterRead

log = structlog.get_logger(__name__)

# The notifications.event_id column holds 1 to 200 characters (0001_notifications.sql).
MAX_EVENT_ID: Final = 200


async def record(pool: asyncpg.Pool, envelope: Mapping[str, Any], raw: bytes) -> None:
    """Store the dead letter (counting repeats) and fail the notification it left pending."""
    event_id = str(envelope.get("id") or "") or f"sha256:{_digest(raw)}"
    data = envelope.get("data")
    async with pool.acquire() as conn, conn.transaction():
        await repository.record_dead_letter(
            conn, event_id=event_id[:MAX_EVENT_ID], topic=str(envelope.get("topic") or ""),
            type_=str(envelope.get("type") or ""), source=str(envelope.get("source") or ""),
            data=_storable(data) if isinstance(data, dict) else None)
        # Dapr dead-letters on its own once its retries run out: never leave that pending.
        failed = await repository.fail_pending(
            conn, event_id, "dead-lettered: delivery retries exhausted")
    log.warning("dead_letter_recorded", event_id=event_id, topic=envelope.get("topic"),
                type=envelope.get("type"), notification_failed=failed)


def _storable(value: Any) -> Any:
    """`value` without NUL characters, which jsonb refuses: a dead letter is recorded even
    when its payload is the reason it died."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


async def list_page(pool: asyncpg.Pool, *, page: int, page_size: int,
                    event_id: str | None = None) -> DeadLetterPage:
    check_page(page, page_size)
    rows, total = await repository.list_dead_letters(
        pool, event_id=event_id, limit=page_size, offset=(page - 1) * page_size)
    items = [DeadLetterRead(event_id=r["event_id"], topic=r["topic"], type=r["type"],
                            source=r["source"], data=_json_or_none(r["data"]),
                            deliveries=r["deliveries"], received_at=r["received_at"],
                            last_received_at=r["last_received_at"],
                            redeliveries=r["redeliveries"],
                            last_redelivered_at=r["last_redelivered_at"],
                            last_redelivery_outcome=r["last_redelivery_outcome"]) for r in rows]
    return DeadLetterPage(items=items, total=total, page=page, page_size=page_size)


def _json_or_none(value: Any) -> dict[str, object] | None:
    if value is None:
        return None
    decoded = msgspec.json.decode(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else None
