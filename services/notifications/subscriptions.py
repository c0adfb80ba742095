"""Dapr pub/sub callbacks: programmatic subscriptions to `users`, `orders` and the dead-letter
topic (GET /dapr/subscribe), and the routes Dapr delivers the CloudEvents to."""

from __future__ import annotations

from typing import Any, Final

import msgspec
import structlog
from litestar import Request, post

from services.common import events as pubsub
from services.common.names import DEAD_LETTER_TOPIC, TOPIC_ORDERS, TOPIC_USERS
from services.notifications.service import NotificationsService

log = structlog.get_logger(__name__)

SUBSCRIPTIONS: Final = (
    pubsub.Subscription(TOPIC_USERS, f"{pubsub.EVENTS_PATH}/users"),
    pubsub.Subscription(TOPIC_ORDERS, f"{pubsub.EVENTS_PATH}/orders"),
    # The dead-letter subscription has no dead-letter topic of its own: no loops.
    pubsub.Subscription(DEAD_LETTER_TOPIC, f"{pubsub.EVENTS_PATH}/deadletter",
                        dead_letter_topic=""),
)


async def _handle(request: Request[Any, Any, Any], service: NotificationsService) -> dict[str, str]:
    ce = pubsub.decode_cloud_event(await request.body(), request.url.path)
    return pubsub.DROP if ce is None else await service.handle(ce)


class Events(pubsub.EventController):
    """Where Dapr delivers the events of users, orders and dead letters."""

    @post("/users", status_code=200)
    async def on_users_event(self, request: Request[Any, Any, Any],
                             service: NotificationsService) -> dict[str, str]:
        """user.registered -> the welcome e-mail."""
        return await _handle(request, service)

    @post("/orders", status_code=200)
    async def on_orders_event(self, request: Request[Any, Any, Any],
                              service: NotificationsService) -> dict[str, str]:
        """order.confirmed / cancelled / shipped / delivered -> one e-mail each."""
        return await _handle(request, service)

    @post("/deadletter", status_code=200)
    async def on_dead_letter(self, request: Request[Any, Any, Any],
                             service: NotificationsService) -> dict[str, str]:
        """Record every dead-lettered message (of any subscriber) so none is lost silently."""
        raw = await request.body()
        try:
            envelope = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            envelope = None
        if not isinstance(envelope, dict):
            envelope = {"data": {"raw": raw[:4096].decode("utf-8", "replace")}}
        await service.record_dead_letter(envelope, raw)
        return pubsub.SUCCESS


ROUTES: Final[list[Any]] = [pubsub.subscribe_route(SUBSCRIPTIONS), Events]
