"""Dapr pub/sub callbacks: programmatic subscriptions to `users`, `orders` and the dead-letter
topic (GET /dapr/subscribe), and the routes Dapr delivers the CloudEvents to."""

from __future__ import annotations

from typing import Any, Final

import msgspec
import structlog
from litestar import Controller, Request, post

from services.common.events import DROP, SUCCESS, CloudEvent, Subscription, subscribe_route
from services.common.names import DEAD_LETTER_TOPIC, TOPIC_ORDERS, TOPIC_USERS
from services.notifications.service import NotificationsService

log = structlog.get_logger(__name__)

EVENTS_PATH: Final = "/internal/events"
SUBSCRIPTIONS: Final = (
    Subscription(TOPIC_USERS, f"{EVENTS_PATH}/users"),
    Subscription(TOPIC_ORDERS, f"{EVENTS_PATH}/orders"),
    # The dead-letter subscription has no dead-letter topic of its own: no loops.
    Subscription(DEAD_LETTER_TOPIC, f"{EVENTS_PATH}/deadletter", dead_letter_topic=""),
)

_decoder: Final = msgspec.json.Decoder(CloudEvent)


async def _handle(request: Request[Any, Any, Any], service: NotificationsService) -> dict[str, str]:
    raw = await request.body()
    try:
        ce = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        log.warning("event_undecodable", path=request.url.path, error=str(exc))
        return DROP
    return await service.handle(ce)


class EventController(Controller):
    """Where Dapr delivers the events this service subscribes to."""

    path = EVENTS_PATH
    include_in_schema = False

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
        return SUCCESS


ROUTES: Final[list[Any]] = [subscribe_route(SUBSCRIPTIONS), EventController]
