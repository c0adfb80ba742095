"""All SQL of the notifications service (database ecommerce_notifications), parameterised."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg
import msgspec

from services.notifications.schemas import Draft

Executor: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of trying to claim a notification for sending."""

    row: asyncpg.Record | None  # the notification (None: cannot happen, it was just inserted)
    mine: bool  # this delivery holds the claim and sends
    busy_s: float  # > 0: another delivery's live claim ends in this many seconds


async def claim(pool: asyncpg.Pool, event_id: str, draft: Draft, token: uuid.UUID,
                claim_s: float, *, insert: bool = True) -> Claim:
    """Store the notification of `event_id` unless it (or the same e-mail under another
    event id, by `dedupe_key`) exists, and claim it for `claim_s` seconds under `token`
    unless it is sent or under another delivery's live claim.

    The usual case, a new notification, is one statement: the row is inserted already
    claimed. When it exists (a redelivery; `insert=False` when this delivery stored it
    already), it is locked by `event_id`, else by `dedupe_key`, in one short transaction."""
    if insert:
        row: asyncpg.Record | None = await pool.fetchrow(
            "INSERT INTO notifications (id, event_id, dedupe_key, user_id, kind, subject,"
            " order_id, recipient, body_text, body_html, claim_token, claimed_until)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
            " clock_timestamp() + make_interval(secs => $12))"
            " ON CONFLICT DO NOTHING"
            " RETURNING id, event_id, kind, recipient, subject, body_html, status, attempts",
            uuid.uuid4(), event_id, draft.dedupe_key, draft.user_id, draft.kind, draft.subject,
            draft.order_id, draft.recipient, draft.text, draft.html, token, claim_s)
        if row is not None:
            return Claim(row=row, mine=True, busy_s=0.0)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, event_id, kind, recipient, subject, body_html, status, attempts,"
            " greatest(extract(epoch FROM claimed_until - clock_timestamp()), 0)::float8"
            " AS busy_s FROM notifications WHERE event_id = $1 OR dedupe_key = $2"
            " ORDER BY (event_id = $1) DESC LIMIT 1 FOR UPDATE",
            event_id, draft.dedupe_key)
        if row is None or row["status"] == "sent" or row["busy_s"] > 0:
            return Claim(row=row, mine=False, busy_s=row["busy_s"] if row is not None else 0.0)
        await conn.execute(
            "UPDATE notifications SET claim_token = $2,"
            " claimed_until = clock_timestamp() + make_interval(secs => $3) WHERE id = $1",
            row["id"], token, claim_s)
    return Claim(row=row, mine=True, busy_s=0.0)


async def record_failure(db: Executor, notification_id: uuid.UUID, token: uuid.UUID,
                         error: str, max_attempts: int) -> tuple[int, str] | None:
    """Count a failed send and release the claim; at `max_attempts` the notification becomes
    `failed`. None if `token` no longer holds the claim (it expired and another delivery took
    the notification over, so that one reports the outcome)."""
    row = await db.fetchrow(
        "UPDATE notifications SET attempts = attempts + 1, last_error = $3,"
        " status = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END,"
        " claim_token = NULL, claimed_until = NULL"
        " WHERE id = $1 AND claim_token = $2 RETURNING attempts, status",
        notification_id, token, error, max_attempts)
    return None if row is None else (int(row["attempts"]), str(row["status"]))


async def mark_sent(db: Executor, notification_id: uuid.UUID) -> None:
    """Record a send that succeeded, whoever holds the claim now: the e-mail went out."""
    await db.execute(
        "UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
        " claim_token = NULL, claimed_until = NULL WHERE id = $1 AND status <> 'sent'",
        notification_id)


async def fail_pending(db: Executor, event_id: str, error: str) -> bool:
    """Mark the notification of a dead-lettered event failed if it is still pending and no
    delivery is sending it (a live claim reports its own outcome)."""
    row = await db.fetchrow(
        "UPDATE notifications SET status = 'failed', last_error = coalesce(last_error, $2)"
        " WHERE event_id = $1 AND status = 'pending'"
        " AND (claimed_until IS NULL OR claimed_until <= clock_timestamp()) RETURNING id",
        event_id, error)
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
        " last_received_at, redeliveries, last_redelivered_at, last_redelivery_outcome"
        " FROM dead_letters WHERE ($1::text IS NULL OR event_id = $1)"
        " ORDER BY received_at DESC, event_id LIMIT $2 OFFSET $3", event_id, limit, offset)
    return list(rows), int(total)
