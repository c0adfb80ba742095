"""Typed settings of the basket service, read once at start-up."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from services.common.settings import positive_int_overrides


class BasketSettings(msgspec.Struct, frozen=True, kw_only=True):
    """`BASKET_GUEST_TTL_SECONDS` / `BASKET_USER_TTL_SECONDS`: how long a basket lives after
    its last change (Dapr state TTL, `ttlInSeconds`): 7 days for a guest, 90 signed in."""

    guest_ttl_seconds: int = 7 * 24 * 3600
    user_ttl_seconds: int = 90 * 24 * 3600

    @property
    def guest_ttl(self) -> timedelta:
        return timedelta(seconds=self.guest_ttl_seconds)

    @property
    def user_ttl(self) -> timedelta:
        return timedelta(seconds=self.user_ttl_seconds)


def load(env: dict[str, str] | None = None) -> BasketSettings:
    """Read `BASKET_*` overrides; a malformed or non-positive value stops start-up."""
    return positive_int_overrides(BasketSettings, "BASKET", env)
