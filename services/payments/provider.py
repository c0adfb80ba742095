"""Payment providers: the interface the service calls, and the sandbox used by default.

A provider is called with the caller's idempotency key, so calling it twice for one key
(a retry after a crash) must not move money twice; real providers offer exactly that.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Protocol

import msgspec

from services.common.errors import InvalidInput


class ProviderError(Exception):
    """The provider could not be reached or failed; the operation may be retried."""


class ProviderResult(msgspec.Struct, frozen=True, kw_only=True):
    succeeded: bool
    reference: str
    decline_reason: str | None = None


class Provider(Protocol):
    """What the payments service needs from a payment provider."""

    name: str

    def check_method(self, payment_method: str) -> None:
        """Raise InvalidInput when the provider cannot charge this payment method."""

    async def charge(self, *, idempotency_key: str, amount: Decimal, currency: str,
                     payment_method: str) -> ProviderResult:
        """Charge once per idempotency key; a decline is a result, not an error."""

    async def refund(self, *, idempotency_key: str, charge_reference: str, amount: Decimal,
                     currency: str) -> ProviderResult:
        """Refund once per idempotency key."""


class SandboxProvider:
    """Deterministic by payment method, so declines can be tested:
    `tok_decline` -> declined `card_declined`; `tok_insufficient_funds` -> declined
    `insufficient_funds`; any other `tok_...` succeeds; anything else is invalid input."""

    name = "sandbox"
    DECLINES = {"tok_decline": "card_declined", "tok_insufficient_funds": "insufficient_funds"}

    def check_method(self, payment_method: str) -> None:
        if not payment_method.startswith("tok_") or len(payment_method) == len("tok_"):
            raise InvalidInput("payment_method must be a card token such as 'tok_visa'",
                               errors=[{"field": "payment_method",
                                        "message": "must be a token starting with 'tok_'"}])

    async def charge(self, *, idempotency_key: str, amount: Decimal, currency: str,
                     payment_method: str) -> ProviderResult:
        self.check_method(payment_method)
        reference = "sbx_ch_" + _digest(idempotency_key)
        reason = self.DECLINES.get(payment_method)
        return ProviderResult(succeeded=reason is None, reference=reference,
                              decline_reason=reason)

    async def refund(self, *, idempotency_key: str, charge_reference: str, amount: Decimal,
                     currency: str) -> ProviderResult:
        return ProviderResult(succeeded=True, reference="sbx_re_" + _digest(idempotency_key))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]
