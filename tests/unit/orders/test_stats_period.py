"""The period of GET /api/orders/stats: defaults, order and span, as field errors."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidInput
from services.orders.stats import MAX_DAYS, period

TODAY = date(2026, 12, 6)


def test_the_default_is_the_last_30_days_up_to_today() -> None:
    assert period(None, None, today=TODAY) == (date(2026, 11, 7), TODAY)
    assert period(None, "2026-01-31", today=TODAY) == (date(2026, 1, 2), date(2026, 1, 31))
    # The first days of the calendar have no 30 before them: the period starts at day one.
    assert period(None, "0001-01-05", today=TODAY) == (date(1, 1, 1), date(1, 1, 5))


def test_one_day_is_a_period() -> None:
    assert period("2026-12-01", "2026-12-01", today=TODAY) == (date(2026, 12, 1),) * 2


@pytest.mark.parametrize(("raw_from", "raw_to", "field"), [
    ("2026-13-01", None, "from"), ("yesterday", None, "from"), (None, "2026-02-30", "to"),
    ("2026-12-06", "2026-12-05", "from"), ("2024-01-01", "2026-01-01", "to"),
    # Only the documented format, and nothing the query's day after `to` cannot hold.
    ("", None, "from"), ("20261201", None, "from"), (None, "9999-12-31", "to"),
])
def test_a_bad_period_names_its_field(raw_from: str | None, raw_to: str | None,
                                      field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        period(raw_from, raw_to, today=TODAY)
    assert caught.value.errors and caught.value.errors[0]["field"] == field


def test_the_longest_period() -> None:
    start, end = period("2025-12-06", "2026-12-06", today=TODAY)
    assert (end - start).days + 1 == MAX_DAYS
