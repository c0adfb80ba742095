"""Events the products service consumes: inventory's stock.changed keeps stock_quantity."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Controller, Request, post

from services.common.contracts import events
from services.common.contracts.events import EventType, StockChanged
from services.common.errors import DomainError
from services.common.events import DROP, RETRY, SUCCESS, CloudEvent, Subscription, subscribe_route
from services.common.names import TOPIC_INVENTORY
from services.products.service import ProductsService

log = structlog.get_logger(__name__)

EVENTS_PATH = "/internal/events"


class _Envelope(CloudEvent, kw_only=True):
    time: str | None = None


class EventController(Controller):
    """Where Dapr delivers the events this service subscribes to."""

    path = EVENTS_PATH
    include_in_schema = False

    @post("/inventory", status_code=200)
    async def on_inventory_event(self, request: Request[Any, Any, Any],
                                 service: ProductsService) -> dict[str, str]:
        """stock.changed -> stock_quantity = available; other inventory events are ignored."""
        try:
            event = msgspec.json.decode(await request.body(), type=_Envelope)
        except msgspec.DecodeError as exc:
            log.warning("event_malformed", route=request.url.path, error=str(exc))
            return DROP
        event_type = event.type or str(event.data.get("type", ""))
        if event_type != EventType.STOCK_CHANGED:
            return SUCCESS
        try:
            stock = events.decode(event.data, StockChanged)
        except msgspec.ValidationError as exc:
            log.warning("event_malformed", event_id=event.id, error=str(exc))
            return DROP
        try:
            changed = await service.stock_changed(event.id, event.time, stock)
        except (OSError, asyncpg.PostgresError, DomainError) as exc:
            log.warning("event_retry", event_id=event.id, error=str(exc)[:200])
            return RETRY
        log.info("stock_changed", product_id=str(stock.product_id), available=stock.available,
                 applied=changed)
        return SUCCESS


ROUTES: list[Any] = [
    subscribe_route([Subscription(TOPIC_INVENTORY, f"{EVENTS_PATH}/inventory")]),
    EventController,
]
