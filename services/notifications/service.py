"""The notifications service's use cases: events in, e-mails out, and the feed of them.

One object per app, built at start-up; each use case is a module with one job:
rendering.py (event -> e-mail), delivery.py (send once, the claim protocol),
deadletters.py (what Dapr gave up on), feed.py (what the API shows).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import structlog

from services.common.auth import Identity
from services.common.dapr import Sidecar
from services.common.events import DROP, SUCCESS, CloudEvent
from services.notifications import deadletters, delivery, feed
from services.notifications.deadletters import MAX_EVENT_ID
from services.notifications.rendering import BadEvent, Renderer, draft_for, event_type
from services.notifications.schemas import DeadLetterPage, NotificationPage, NotificationRead
from services.notifications.settings import NotificationsSettings

log = structlog.get_logger(__name__)


class NotificationsService:
    """Handles the events Dapr delivers (answering SUCCESS, RETRY or DROP) and the feed."""

    def __init__(self, pool: asyncpg.Pool, sidecar: Sidecar, renderer: Renderer,
                 settings: NotificationsSettings) -> None:
        self.pool = pool
        self.sidecar = sidecar
        self.renderer = renderer
        self.settings = settings

    async def handle(self, ce: CloudEvent) -> dict[str, str]:
        etype = event_type(ce)
        bound = log.bind(event_id=ce.id[:MAX_EVENT_ID], event_type=etype, topic=ce.topic)
        try:
            if not 1 <= len(ce.id) <= MAX_EVENT_ID:
                raise BadEvent(f"the CloudEvent id must have 1 to {MAX_EVENT_ID} characters")
            draft = draft_for(etype, ce.data, self.renderer)
        except BadEvent as exc:
            # Retrying cannot help: straight to the dead-letter topic, where it is recorded.
            bound.warning("event_unusable", error=str(exc))
            return DROP
        if draft is None:
            bound.debug("event_ignored")
            return SUCCESS
        return await delivery.deliver(self.pool, self.sidecar, ce.id, draft,
                                      max_attempts=self.settings.max_attempts)

    async def record_dead_letter(self, envelope: Mapping[str, Any], raw: bytes) -> None:
        await deadletters.record(self.pool, envelope, raw)

    async def list_dead_letters(self, *, page: int, page_size: int,
                                event_id: str | None = None) -> DeadLetterPage:
        return await deadletters.list_page(self.pool, page=page, page_size=page_size,
                                           event_id=event_id)

    async def list_notifications(self, caller: Identity, *, page: int, page_size: int,
                                 order_id: uuid.UUID | None = None, status: str | None = None,
                                 unread: bool | None = None) -> NotificationPage:
        return await feed.list_page(self.pool, caller, page=page, page_size=page_size,
                                    order_id=order_id, status=status, unread=unread)

    async def mark_read(self, caller: Identity, notification_id: uuid.UUID,
                        read: bool) -> NotificationRead:
        return await feed.mark_read(self.pool, caller, notification_id, read)
