"""Money: Decimal with two places, never float. JSON carries it as a string ("19.99").

On input an amount is a string of digits with at most two places ("19.99", "5") or a JSON
number that is a whole number of cents ("19.99" parsed by a client as a float is within a
float's rounding of 1999 cents, and counts as that). `AMOUNT_SCHEMA` documents exactly this,
so what the OpenAPI document calls a valid amount is what the parser takes.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")
AMOUNT_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
# How far (relatively) a float may sit from a whole number of cents and still be read as it:
# far above a double's rounding (2e-16), far below any real fraction of a cent at 1e10 cents.
_CENT_TOLERANCE = 1e-12
AMOUNT_SCHEMA: dict[str, object] = {"oneOf": [
    {"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["19.99"]},
    {"type": "number", "minimum": 0, "maximum": float(MAX_AMOUNT), "multipleOf": 0.01},
]}


def to_money(value: object) -> Decimal:
    """Parse an amount (see the module docstring) into a 2-place Decimal; ValueError on
    anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a decimal amount")
    if isinstance(value, str):
        if not _AMOUNT.fullmatch(value):
            raise ValueError("must be a decimal amount with at most two decimal places "
                             "(e.g. 19.99)")
        return Decimal(value).quantize(CENT)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite amount")
        if not 0 <= value <= float(MAX_AMOUNT):
            raise ValueError(f"must be between 0 and {MAX_AMOUNT}")
        cents = round(value * 100)
        off = abs(value * 100 - cents)
        if (cents == 0 and value != 0) or off > _CENT_TOLERANCE * max(1, abs(cents)):
            raise ValueError("must have at most two decimal places")
        amount = Decimal(cents) * CENT
    else:
        raise ValueError("must be a decimal amount")
    if amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"must be between 0 and {MAX_AMOUNT}")
    return amount.quantize(CENT)


def fmt(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
