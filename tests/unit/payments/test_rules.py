"""Pure rules of the payments service: the sandbox provider, amounts, request hashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.common.errors import InvalidInput
from services.payments.provider import Provider, SandboxProvider
from services.payments.service import digest, parse_amount


@pytest.mark.parametrize(("method", "succeeded", "reason"), [
    ("tok_visa", True, None), ("tok_mastercard", True, None),
    ("tok_decline", False, "card_declined"),
    ("tok_insufficient_funds", False, "insufficient_funds"),
])
async def test_sandbox_outcome_is_deterministic(method: str, succeeded: bool,
                                                reason: str | None) -> None:
    provider: Provider = SandboxProvider()
    results = [await provider.charge(idempotency_key="k1", amount=Decimal("1.00"),
                                     currency="USD", payment_method=method) for _ in range(2)]
    assert results[0] == results[1]
    assert results[0].succeeded is succeeded and results[0].decline_reason == reason
    other = await provider.charge(idempotency_key="k2", amount=Decimal("1.00"), currency="USD",
                                  payment_method=method)
    assert other.reference != results[0].reference


@pytest.mark.parametrize("method", ["visa", "tok_", "", "TOK_visa", " tok_visa"])
def test_sandbox_refuses_anything_but_tokens(method: str) -> None:
    with pytest.raises(InvalidInput):
        SandboxProvider().check_method(method)


@pytest.mark.parametrize(("value", "expected"), [("12.34", "12.34"), (12.34, "12.34"),
                                                 (5, "5.00"), ("0.01", "0.01")])
def test_amounts_parse_to_two_places(value: object, expected: str) -> None:
    assert parse_amount(value) == Decimal(expected)


@pytest.mark.parametrize("value", ["0", 0, "-1", "1.001", "abc", "NaN", None, True,
                                   "100000000.00", 1e20])
def test_bad_amounts_are_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(value)


def test_request_hash_is_stable_and_sensitive() -> None:
    assert digest("a", "12.30") == digest("a", "12.30")
    assert digest("a", "12.30") != digest("a", "12.31")
    assert digest("ab", "c") != digest("a", "bc")
