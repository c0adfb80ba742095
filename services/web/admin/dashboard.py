"""The dashboard: today and the last 30 days in figures and charts, cancellation reasons,
low-stock products, the newest orders and the platform's health, each from its service's
API (orders' stats endpoint, the catalog, the gateway's aggregated health).

A part that cannot be loaded says so in its own panel; the rest of the page still shows.
"""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec
import structlog
from litestar import get
from litestar.response import Template

from services.common.errors import DomainError
from services.common.names import GATEWAY
from services.web.admin import charts
from services.web.admin.common import api, page
from services.web.pages import STATUS_LABELS, reason_text
from services.web.platform import ApiError, Degraded, Shopper

log = structlog.get_logger(__name__)

LOW_STOCK = 5
STATUS_ORDER = ("pending", "processing", "shipped", "delivered", "cancelled")
# What each cancellation reason means, told to the shop's staff (the storefront tells the
# shopper in its own words).
REASONS = {
    "out_of_stock": "Not enough stock to reserve every line: nothing was charged.",
    "payment_declined": "The card was declined: the stock was released.",
    "inventory_unavailable": "Inventory could not be reached to reserve the stock.",
    "cancelled_by_customer": "The customer cancelled; any payment was refunded.",
    "cancelled_by_admin": "An admin cancelled; any payment was refunded.",
    "not_shipped_in_time": "Not shipped within 30 days: refunded automatically.",
}


def _money(value: str | Decimal) -> str:
    amount = Decimal(value)
    return charts.compact(float(amount), money=True) if amount >= 10_000 else f"${amount:,.2f}"


async def _health(shopper: Shopper) -> dict[str, str]:
    """Each service up or down, as the gateway's /health sees them (200 or 503 alike)."""
    r = await shopper.platform.sidecar.invoke(GATEWAY, "GET", "health", timeout=8.0)
    body = msgspec.json.decode(r.content) if r.content else {}
    services = body.get("services") if isinstance(body, dict) else None
    if not isinstance(services, dict):
        raise Degraded(f"the gateway's health answered {r.status_code}")
    return {str(k): str(v) for k, v in sorted(services.items())}


async def _low_stock(shopper: Shopper) -> list[dict[str, Any]]:
    """Active products with fewer than LOW_STOCK units available, fewest first."""
    found: list[dict[str, Any]] = []
    for page_no in range(1, 11):  # the catalog in pages of 100, bounded
        body = await api(shopper, "GET", "/api/products",
                         params={"sort": "name", "page": str(page_no), "page_size": "100"})
        items = body.get("items") or []
        found += [p for p in items if int(p.get("stock_quantity") or 0) < LOW_STOCK]
        if len(items) < 100:
            break
    return sorted(found, key=lambda p: (int(p.get("stock_quantity") or 0), p["name"]))[:10]


def _charts(stats: dict[str, Any]) -> dict[str, Any]:
    days = [date.fromisoformat(d["date"]) for d in stats["days"]]
    orders = [float(d["orders"]) for d in stats["days"]]
    revenue = [Decimal(d["revenue"]) for d in stats["days"]]
    by_status = stats.get("by_status") or {}
    return {
        "orders": charts.bars_per_day("orders-chart", "Orders per day", days, orders),
        "revenue": charts.line_per_day("revenue-chart", "Revenue per day", days, revenue),
        "status": charts.horizontal_bars(
            "status-chart", "Orders by status",
            [(STATUS_LABELS[s], f"s-{s}", int(by_status.get(s) or 0)) for s in STATUS_ORDER]),
        "today": stats["days"][-1] if stats["days"] else {"orders": 0, "revenue": "0.00"},
    }


def _tiles(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, figure, id) of the key figures above the charts."""
    today: dict[str, Any] = stats["days"][-1] if stats["days"] else {"orders": 0,
                                                                     "revenue": "0.00"}
    return [("Orders today", f"{today['orders']:,}", "kpi-orders-today"),
            ("Revenue today", _money(today["revenue"]), "kpi-revenue-today"),
            (f"Orders, last {len(stats['days'])} days", f"{stats['orders']:,}", "kpi-orders"),
            (f"Revenue, last {len(stats['days'])} days", _money(stats["revenue"]),
             "kpi-revenue"),
            ("Average paid order", _money(stats["average_order_value"]), "kpi-average")]


async def _part(what: str, call: Any) -> tuple[Any, str | None]:
    try:
        return await call, None
    except (ApiError, Degraded, DomainError) as exc:
        log.warning("dashboard_part_failed", part=what, error=str(exc)[:200])
        return None, f"The {what} could not be loaded right now."


@get("/", name="admin_dashboard")
async def dashboard(shopper: Shopper) -> Template:
    (stats, stats_error), (newest, newest_error), (low, low_error), (health, health_error) = \
        await asyncio.gather(
            _part("sales figures", api(shopper, "GET", "/api/orders/stats")),
            _part("newest orders", api(shopper, "GET", "/api/orders",
                                       params={"page_size": "8"})),
            _part("stock levels", _low_stock(shopper)),
            _part("health of the services", _health(shopper)))
    return await page(
        shopper, "dashboard.html", stats=stats, stats_error=stats_error,
        charts=_charts(stats) if stats else None, tiles=_tiles(stats) if stats else [],
        reasons=[{"reason": r["reason"], "count": r["count"],
                  "text": REASONS.get(r["reason"]) or reason_text(r["reason"])}
                 for r in (stats or {}).get("cancellation_reasons") or []],
        newest=(newest or {}).get("items") or [], newest_error=newest_error,
        low_stock=low or [], low_error=low_error, low_limit=LOW_STOCK,
        health=health or {}, health_error=health_error)


ROUTES = [dashboard]
