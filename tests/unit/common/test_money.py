from __future__ import annotations

from decimal import Decimal

import pytest

from services.common.money import fmt, to_money


@pytest.mark.parametrize(("raw", "expected"), [
    ("19.99", "19.99"), (19.99, "19.99"), (5, "5.00"), ("0", "0.00"), (1e2, "100.00"),
    ("7.5", "7.50"), (0.57, "0.57"), (57 * 0.01, "0.57"), ("99999999.99", "99999999.99"),
])
def test_amounts_parse_to_two_places(raw: object, expected: str) -> None:
    assert fmt(to_money(raw)) == expected


# 1e30 and its kin once escaped as decimal.InvalidOperation (a 500): quantizing them to
# cents needs more digits than the decimal context holds.
# A string is digits with at most two places, as the OpenAPI document's pattern says:
# Decimal's own spellings ("1e2", " 1", "1_0", "+1", other scripts' digits) are refused too.
@pytest.mark.parametrize("raw", ["abc", "1.999", -1, "NaN", "Infinity", True, None, "1e12",
                                 "1e30", "-1e30", 1e30, "1E+999999999", "1e-30", "1e2", " 1",
                                 "1_0", "+1", "\u0661", "1.", ".5", "", 0.001, -0.01, 2.2e-309,
                                 5e-7, 45600615.03363425, float("nan"), float("inf"), 1e8, [1]])
def test_bad_amounts_are_rejected(raw: object) -> None:
    with pytest.raises(ValueError):
        to_money(raw)


def test_money_is_decimal() -> None:
    assert isinstance(to_money("0.10"), Decimal)
    assert to_money("0.10") + to_money("0.20") == Decimal("0.30")
