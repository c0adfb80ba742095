"""Typed settings of the inventory service, read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

import msgspec

from services.common.settings import from_env

Positive = Annotated[int, msgspec.Meta(ge=1)]


class InventorySettings(msgspec.Struct, frozen=True, kw_only=True):
    """`INVENTORY_RESERVATION_TTL_SECONDS`: how long an unconfirmed reservation holds stock;
    `INVENTORY_SWEEP_INTERVAL_SECONDS`: how often expired holds are released."""

    reservation_ttl_seconds: Positive = 15 * 60
    sweep_interval_seconds: Positive = 30

    @property
    def reservation_ttl(self) -> timedelta:
        return timedelta(seconds=self.reservation_ttl_seconds)


def load(env: Mapping[str, str] | None = None) -> InventorySettings:
    """Read `INVENTORY_*` overrides; a malformed or non-positive value stops start-up."""
    return from_env(InventorySettings, "INVENTORY", env)
