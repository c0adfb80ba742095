"""Sales figures for the admin console: orders and revenue per day, orders by status and the
reasons of cancellations over a period, computed by the database in three grouped scans.

Days are UTC calendar days; `from` and `to` are both included. Revenue counts the orders
that were paid and not cancelled (processing, shipped, delivered), by the day they were
placed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from services.common.errors import InvalidInput
from services.common.money import fmt

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_DAYS = 366
DEFAULT_DAYS = 30
STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled")
PAID = ["processing", "shipped", "delivered"]


class DayFigures(msgspec.Struct, frozen=True):
    date: date
    orders: int
    revenue: str


class ReasonCount(msgspec.Struct, frozen=True):
    reason: str
    count: int


class OrderStats(msgspec.Struct, frozen=True, kw_only=True):
    """GET /api/orders/stats: every day of the period, zeros included."""

    from_: date = msgspec.field(name="from")
    to: date
    orders: int
    revenue: str
    average_order_value: str
    days: list[DayFigures]
    by_status: dict[str, int]
    cancellation_reasons: list[ReasonCount]


def _date(field: str, raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):  # RFC 3339's full-date, as documented (not 20240101)
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{field}: not a date (YYYY-MM-DD)",
                           errors=[{"field": field, "message": "not a date (YYYY-MM-DD)"}]
                           ) from None


def period(raw_from: str | None, raw_to: str | None, *, today: date | None = None,
           ) -> tuple[date, date]:
    """The validated period; by default the last 30 days up to today (UTC)."""
    today = today or datetime.now(UTC).date()
    end = _date("to", raw_to) or today
    if end == date.max:  # the query runs to the day after `to`
        raise InvalidInput("to: must be before 9999-12-31",
                           errors=[{"field": "to", "message": "must be before 9999-12-31"}])
    start = _date("from", raw_from) or (
        end - timedelta(days=DEFAULT_DAYS - 1) if end.toordinal() >= DEFAULT_DAYS else date.min)
    if start > end:
        raise InvalidInput("from: must not be after to",
                           errors=[{"field": "from", "message": "must not be after to"}])
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"to: the period may span at most {MAX_DAYS} days",
                           errors=[{"field": "to",
                                    "message": f"the period may span at most {MAX_DAYS} days"}])
    return start, end


async def order_stats(pool: asyncpg.Pool, start: date, end: date) -> OrderStats:
    since = datetime.combine(start, time.min, UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, UTC)
    async with pool.acquire() as conn, conn.transaction(readonly=True,
                                                        isolation="repeatable_read"):
        per_day = await conn.fetch(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders,"
            " coalesce(sum(total) FILTER (WHERE status = ANY($3::text[])), 0) AS revenue"
            " FROM orders WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
            since, until, PAID)
        statuses = await conn.fetch(
            "SELECT status, count(*) AS n FROM orders WHERE created_at >= $1"
            " AND created_at < $2 GROUP BY status", since, until)
        reasons = await conn.fetch(
            "SELECT cancel_reason, count(*) AS n FROM orders WHERE created_at >= $1"
            " AND created_at < $2 AND status = 'cancelled'"
            " GROUP BY cancel_reason ORDER BY n DESC, cancel_reason", since, until)
    found: dict[date, Any] = {r["day"]: r for r in per_day}
    days = []
    revenue = Decimal("0.00")
    count = 0
    for i in range((end - start).days + 1):
        day = start + timedelta(days=i)
        row = found.get(day)
        day_orders, day_revenue = (row["orders"], row["revenue"]) if row else (0, Decimal(0))
        days.append(DayFigures(date=day, orders=day_orders, revenue=fmt(day_revenue)))
        revenue += day_revenue
        count += day_orders
    by_status = dict.fromkeys(STATUSES, 0) | {r["status"]: r["n"] for r in statuses}
    paid = sum(by_status[s] for s in PAID)
    return OrderStats(
        from_=start, to=end, orders=count, revenue=fmt(revenue),
        average_order_value=fmt(revenue / paid if paid else Decimal(0)),
        days=days, by_status=by_status,
        cancellation_reasons=[ReasonCount(reason=r["cancel_reason"], count=r["n"])
                              for r in reasons])
