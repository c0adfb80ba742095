"""Typed settings of the inventory service, read once at start-up."""

from __future__ import annotations

import os
from datetime import timedelta

import msgspec

from services.common.settings import ConfigError


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
    env = dict(os.environ) if env is None else env
    values: dict[str, int] = {}
    for field in InventorySettings.__struct_fields__:
        name = f"INVENTORY_{field.upper()}"
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
        values[field] = value
    return InventorySettings(**values)
