"""The notification feed: the caller's notifications (admins: everybody's), and read marks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from services.common.auth import Identity
from services.common.errors import InvalidInput, NotFound
from services.notifications import repository
from services.notifications.schemas import STATUSES, NotificationPage, NotificationRead


def _to_read(row: Mapping[str, Any], admin: bool) -> NotificationRead:
    return NotificationRead(
        id=row["id"], user_id=row["user_id"], kind=row["kind"], subject=row["subject"],
        order_id=row["order_id"], recipient=row["recipient"], status=row["status"],
        attempts=row["attempts"], read=row["read_at"] is not None, read_at=row["read_at"],
        created_at=row["created_at"], sent_at=row["sent_at"], body=row["body_text"],
        last_error=row["last_error"] if admin else None)


def check_page(page: int, page_size: int) -> None:
    errors = []
    if page < 1:
        errors.append({"field": "page", "message": "must be 1 or more"})
    if not 1 <= page_size <= 100:
        errors.append({"field": "page_size", "message": "must be from 1 to 100"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']} {e['message']}" for e in errors),
                           errors=errors)


async def list_page(pool: asyncpg.Pool, caller: Identity, *, page: int, page_size: int,
                    order_id: uuid.UUID | None = None, status: str | None = None,
                    unread: bool | None = None) -> NotificationPage:
    """The caller's notifications, newest first; an admin sees everybody's."""
    check_page(page, page_size)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           errors=[{"field": "status", "message": "unknown status"}])
    rows, total = await repository.list_page(
        pool, user_id=None if caller.is_admin else caller.user_id, order_id=order_id,
        status=status, unread=unread, limit=page_size, offset=(page - 1) * page_size)
    return NotificationPage(items=[_to_read(r, caller.is_admin) for r in rows], total=total,
                            page=page, page_size=page_size)


async def mark_read(pool: asyncpg.Pool, caller: Identity, notification_id: uuid.UUID,
                    read: bool) -> NotificationRead:
    """Owner only: anybody else (admins included) gets the same 404 as for a missing one."""
    row = await repository.set_read(pool, notification_id, caller.user_id, read)
    if row is None:
        raise NotFound("No such notification")
    return _to_read(row, caller.is_admin)
