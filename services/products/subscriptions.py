"""Events the products service consumes: inventory's stock.changed keeps stock_quantity."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Request, post

from services.common import events as pubsub
from services.common.contracts import events
from services.common.contracts.events import EventType, StockChanged
from services.common.errors import DomainError
from services.common.names import TOPIC_INVENTORY
from services.products.service import ProductsService

log = structlog.get_logger(__name__)



class Events(pubsub.EventController):
    """Where Dapr delivers the events of inventory."""

    @post("/inventory", status_code=200)
    async def on_inventory_event(self, request: Request[Any, Any, Any],
                                 service: ProductsService) -> dict[str, str]:
        """stock.changed -> stock_quantity = available; other inventory events are ignored."""
        event = pubsub.decode_cloud_event(await request.body(), request.url.path)
        if event is None:
            return pubsub.DROP
        event_type = event.type or str(event.data.get("type", ""))
        if event_type != EventType.STOCK_CHANGED:
            return pubsub.SUCCESS
        try:
            stock = events.decode(event.data, StockChanged)
        except msgspec.ValidationError as exc:
            log.warning("event_malformed", event_id=event.id, error=str(exc))
            return pubsub.DROP
        try:
            changed = await service.stock_changed(event.id, event.time, stock)
        except (OSError, asyncpg.PostgresError, DomainError) as exc:
            log.warning("event_retry", event_id=event.id, error=str(exc)[:200])
            return pubsub.RETRY
        log.info("stock_changed", product_id=str(stock.product_id), available=stock.available,
                 applied=changed)
        return pubsub.SUCCESS


SUBSCRIPTIONS = (pubsub.Subscription(TOPIC_INVENTORY, f"{pubsub.EVENTS_PATH}/inventory"),)

ROUTES: list[Any] = [pubsub.subscribe_route(SUBSCRIPTIONS), Events]
