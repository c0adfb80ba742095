"""Events the products service consumes: inventory's stock.changed keeps stock_quantity."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Request, post
from litestar.datastructures import State

from services.common.contracts import events
from services.common.contracts.events import EventType, StockChanged
from services.common.errors import DomainError
from services.common.events import DROP, RETRY, SUCCESS, CloudEvent, Subscription, subscribe_route
from services.common.names import TOPIC_INVENTORY
from services.products.service import Catalog

log = structlog.get_logger(__name__)

STOCK_CHANGED_ROUTE = "/internal/events/inventory"


class _Envelope(CloudEvent, kw_only=True):
    time: str | None = None


@post(STOCK_CHANGED_ROUTE, status_code=200, include_in_schema=False)
async def on_inventory_event(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
    """stock.changed -> stock_quantity = available; other inventory events are ignored."""
    try:
        event = msgspec.json.decode(await request.body(), type=_Envelope)
    except msgspec.DecodeError as exc:
        log.warning("event_malformed", route=STOCK_CHANGED_ROUTE, error=str(exc))
        return DROP
    event_type = event.type or str(event.data.get("type", ""))
    if event_type != EventType.STOCK_CHANGED:
        return SUCCESS
    try:
        stock = events.decode(event.data, StockChanged)
    except msgspec.ValidationError as exc:
        log.warning("event_malformed", event_id=event.id, error=str(exc))
        return DROP
    catalog: Catalog = state.catalog
    try:
        changed = await catalog.stock_changed(event.id, event.time, stock)
    except (OSError, asyncpg.PostgresError, DomainError) as exc:
        log.warning("event_retry", event_id=event.id, error=str(exc)[:200])
        return RETRY
    log.info("stock_changed", product_id=str(stock.product_id), available=stock.available,
             applied=changed)
    return SUCCESS


ROUTES: list[Any] = [
    subscribe_route([Subscription(TOPIC_INVENTORY, STOCK_CHANGED_ROUTE)]),
    on_inventory_event,
]
