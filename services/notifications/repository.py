"""All SQL of the notifications service (database ecommerce_notifications), parameterised."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import msgspec

if TYPE_CHECKING:
    from services.notifications.service import Draft

Executor: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


async def insert_pending(db: Executor, event_id: str, draft: Draft) -> bool:
    """Store the notification of `event_id` unless it (or the same e-mail under another event
    id, by `dedupe_key`) exists; True if this call created it."""
    row = await db.fetchrow(
        "INSERT INTO notifications (id, event_id, dedupe_key, user_id, kind, subject, order_id,"
        " recipient, body_text, body_html) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT DO NOTHING RETURNING id",
        uuid.uuid4(), event_id, draft.dedupe_key, draft.user_id, draft.kind, draft.subject,
        draft.order_id, draft.recipient, draft.text, draft.html)
    return row is not None


async def lock_by_event(conn: asyncpg.Connection, event_id: str,
                        dedupe_key: str) -> asyncpg.Record | None:
    """The notification of `event_id` (else the one with `dedupe_key`), locked until the
    caller's transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, event_id, user_id, kind, subject, order_id, recipient, body_text, body_html,"
        " status, attempts, last_error, read_at, created_at, sent_at"
        " FROM notifications WHERE event_id = $1 OR dedupe_key = $2"
        " ORDER BY (event_id = $1) DESC LIMIT 1 FOR UPDATE", event_id, dedupe_key)
    return row


async def record_failure(conn: asyncpg.Connection, notification_id: uuid.UUID, error: str,
                         max_attempts: int) -> tuple[int, str]:
    """Count a failed send; at `max_attempts` the notification becomes `failed`."""
    row = await conn.fetchrow(
        "UPDATE notifications SET attempts = attempts + 1, last_error = $2,"
        " status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END"
        " WHERE id = $1 RETURNING attempts, status",
        notification_id, error, max_attempts)
    assert row is not None
    return int(row["attempts"]), str(row["status"])


async def mark_sent(conn: asyncpg.Connection, notification_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1"
        " WHERE id = $1", notification_id)


async def fail_pending(db: Executor, event_id: str, error: str) -> bool:
    """Mark the notification of a dead-lettered event failed if it is still pending."""
    row = await db.fetchrow(
        "UPDATE notifications SET status = 'failed', last_error = coalesce(last_error, $2)"
        " WHERE event_id = $1 AND status = 'pending' RETURNING id", event_id, error)
    return row is not None


async def list_page(db: Executor, *, user_id: uuid.UUID | None, order_id: uuid.UUID | None,
                    status: str | None, unread: bool | None, limit: int,
                    offset: int) -> tuple[list[asyncpg.Record], int]:
    """One page, newest first; `user_id` None means everybody's (admins)."""
    args: list[Any] = [user_id, order_id, status, unread]
    total = await db.fetchval(
        "SELECT count(*) FROM notifications"
        " WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR order_id = $2)"
        " AND ($3::text IS NULL OR status = $3)"
        " AND ($4::boolean IS NULL OR (read_at IS NULL) = $4)", *args)
    rows = await db.fetch(
        "SELECT id, event_id, user_id, kind, subject, order_id, recipient, body_text, body_html,"
        " status, attempts, last_error, read_at, created_at, sent_at FROM notifications"
        " WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR order_id = $2)"
        " AND ($3::text IS NULL OR status = $3)"
        " AND ($4::boolean IS NULL OR (read_at IS NULL) = $4)"
        " ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6", *args, limit, offset)
    return list(rows), int(total)


async def set_read(db: Executor, notification_id: uuid.UUID, owner_id: uuid.UUID,
                   read: bool) -> asyncpg.Record | None:
    """Mark read/unread; ownership is part of the query, so anybody else's row is not found."""
    row: asyncpg.Record | None = await db.fetchrow(
        "UPDATE notifications SET read_at = CASE WHEN $3 THEN coalesce(read_at, now()) END"
        " WHERE id = $1 AND user_id = $2 RETURNING id, event_id, user_id, kind, subject,"
        " order_id, recipient, body_text, body_html, status, attempts, last_error, read_at,"
        " created_at, sent_at",
        notification_id, owner_id, read)
    return row


async def record_dead_letter(db: Executor, *, event_id: str, topic: str, type_: str,
                             source: str, data: dict[str, Any] | None) -> None:
    await db.execute(
        "INSERT INTO dead_letters (event_id, topic, type, source, data)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)"
        " ON CONFLICT (event_id) DO UPDATE SET deliveries = dead_letters.deliveries + 1,"
        " last_received_at = now()",
        event_id, topic, type_, source,
        None if data is None else msgspec.json.encode(data).decode())


async def list_dead_letters(db: Executor, *, event_id: str | None, limit: int,
                            offset: int) -> tuple[list[asyncpg.Record], int]:
    total = await db.fetchval(
        "SELECT count(*) FROM dead_letters WHERE ($1::text IS NULL OR event_id = $1)", event_id)
    rows = await db.fetch(
        "SELECT event_id, topic, type, source, data::text AS data, deliveries, received_at,"
        " last_received_at FROM dead_letters WHERE ($1::text IS NULL OR event_id = $1)"
        " ORDER BY received_at DESC, event_id LIMIT $2 OFFSET $3", event_id, limit, offset)
    return list(rows), int(total)
