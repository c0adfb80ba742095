"""HTTP routes of the notifications service: the public feed and the Dapr callbacks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final

from litestar import Controller, get, patch
from litestar.di import Provide
from litestar.params import Parameter

from services.common.app import provide_service
from services.common.auth import Identity, provide_admin, provide_identity
from services.notifications import subscriptions
from services.notifications.schemas import (
    DeadLetterPage,
    NotificationPage,
    NotificationRead,
    NotificationUpdate,
    Status,
)
from services.notifications.service import NotificationsService


class NotificationController(Controller):
    """`/api/notifications`: the caller's notifications (admins: everybody's)."""

    path = "/api/notifications"
    tags = ["notifications"]
    dependencies = {"caller": Provide(provide_identity)}

    @get("/")
    async def list_notifications(
        self, service: NotificationsService, caller: Identity,
        page: int = Parameter(default=1, ge=1, le=100_000),
        page_size: int = Parameter(default=20, ge=1, le=100),
        order_id: uuid.UUID | None = None,
        status: Annotated[Status | None, Parameter(description="pending, sent or failed")] = None,
        unread: bool | None = None,
    ) -> NotificationPage:
        """Newest first, paginated; filters by order, status and read state."""
        return await service.list_notifications(caller, page=page, page_size=page_size,
                                                order_id=order_id, status=status, unread=unread)

    @patch("/{notification_id:uuid}")
    async def update_notification(self, service: NotificationsService, caller: Identity,
                                  notification_id: uuid.UUID,
                                  data: NotificationUpdate) -> NotificationRead:
        """Mark one of the caller's notifications read (`{"read": true}`) or unread."""
        return await service.mark_read(caller, notification_id, data.read)

    @get("/dead-letters", dependencies={"admin": Provide(provide_admin)})
    async def list_dead_letters(
        self, service: NotificationsService, admin: Identity,
        page: int = Parameter(default=1, ge=1, le=100_000),
        page_size: int = Parameter(default=20, ge=1, le=100),
        event_id: str | None = Parameter(default=None, max_length=200),
    ) -> DeadLetterPage:
        """Admin: messages that reached the dead-letter topic, newest first."""
        return await service.list_dead_letters(page=page, page_size=page_size,
                                               event_id=event_id)


ROUTES: Final[list[Any]] = [NotificationController, *subscriptions.ROUTES]
DEPENDENCIES: Final = {"service": provide_service(NotificationsService)}
