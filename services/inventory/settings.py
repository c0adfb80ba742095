"""Typed settings of the inventory service, read once at start-up."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from services.common.settings import positive_int_overrides


class InventorySettings(msgspec.Struct, frozen=True, kw_only=True):
    """`INVENTORY_RESERVATION_TTL_SECONDS`: how long an unconfirmed reservation holds stock
    (docs/inventory.md); `INVENTORY_SWEEP_INTERVAL_SECONDS`: how often expired holds are
    released."""

    reservation_ttl_seconds: int = 15 * 60
    sweep_interval_seconds: int = 30

    @property
    def reservation_ttl(self) -> timedelta:
        return timedelta(seconds=self.reservation_ttl_seconds)


def load(env: dict[str, str] | None = None) -> InventorySettings:
    """Read `INVENTORY_*` overrides; a malformed or non-positive value stops start-up."""
    return positive_int_overrides(InventorySettings, "INVENTORY", env)
