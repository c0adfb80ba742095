"""Money: Decimal with two places, never float. JSON carries it as a string ("19.99")."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")


def to_money(value: object) -> Decimal:
    """Parse a number or a numeric string into a 2-place Decimal; ValueError on anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a decimal amount")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("must be a decimal amount") from exc
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    # The range first: quantizing 1e30 to cents needs more digits than the context holds.
    if amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"must be between 0 and {MAX_AMOUNT}")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("must have at most two decimal places")
    return amount.quantize(CENT)


def fmt(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
