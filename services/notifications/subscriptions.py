"""Dapr pub/sub callbacks: programmatic subscriptions to `users`, `orders` and the dead-letter
topic (GET /dapr/subscribe), and the routes Dapr delivers the CloudEvents to."""

from __future__ import annotations

from typing import Any, Final

import msgspec
import structlog
from litestar import Request, post

from services.common.events import DROP, SUCCESS, CloudEvent, Subscription, subscribe_route
from services.common.names import DEAD_LETTER_TOPIC, TOPIC_ORDERS, TOPIC_USERS
from services.notifications.service import Notifier

log = structlog.get_logger(__name__)

USERS_ROUTE: Final = "/internal/events/users"
ORDERS_ROUTE: Final = "/internal/events/orders"
DEAD_LETTER_ROUTE: Final = "/internal/events/deadletter"

SUBSCRIPTIONS: Final = (
    Subscription(TOPIC_USERS, USERS_ROUTE),
    Subscription(TOPIC_ORDERS, ORDERS_ROUTE),
    # The dead-letter subscription has no dead-letter topic of its own: no loops.
    Subscription(DEAD_LETTER_TOPIC, DEAD_LETTER_ROUTE, dead_letter_topic=""),
)

_decoder: Final = msgspec.json.Decoder(CloudEvent)


async def _handle(request: Request[Any, Any, Any], notifier: Notifier) -> dict[str, str]:
    raw = await request.body()
    try:
        ce = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        log.warning("event_undecodable", path=request.url.path, error=str(exc))
        return DROP
    return await notifier.handle(ce)


@post(USERS_ROUTE, status_code=200, include_in_schema=False)
async def on_users_event(request: Request[Any, Any, Any], notifier: Notifier) -> dict[str, str]:
    """user.registered -> the welcome e-mail."""
    return await _handle(request, notifier)


@post(ORDERS_ROUTE, status_code=200, include_in_schema=False)
async def on_orders_event(request: Request[Any, Any, Any], notifier: Notifier) -> dict[str, str]:
    """order.confirmed / cancelled / shipped / delivered -> one e-mail each."""
    return await _handle(request, notifier)


@post(DEAD_LETTER_ROUTE, status_code=200, include_in_schema=False)
async def on_dead_letter(request: Request[Any, Any, Any], notifier: Notifier) -> dict[str, str]:
    """Record every dead-lettered message (of any subscriber) so none is lost silently."""
    raw = await request.body()
    try:
        envelope = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        envelope = None
    if not isinstance(envelope, dict):
        envelope = {"data": {"raw": raw[:4096].decode("utf-8", "replace")}}
    await notifier.record_dead_letter(envelope, raw)
    return SUCCESS


ROUTES: Final[list[Any]] = [subscribe_route(SUBSCRIPTIONS), on_users_event, on_orders_event,
                            on_dead_letter]
