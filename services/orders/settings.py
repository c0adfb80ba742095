"""Typed settings of the orders service, read once at start-up (`ORDERS_<NAME>`)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.common.settings import from_env


class OrdersSettings(msgspec.Struct, frozen=True, kw_only=True):
    # ORDERS_REQUIRE_VERIFIED_EMAIL: refuse (403) an order from an account whose e-mail
    # address is not verified (the token's `email_verified` claim). Off by default and in the
    # local stack; a shop that must reach its buyers turns it on.
    require_verified_email: bool = False


def load(env: Mapping[str, str] | None = None) -> OrdersSettings:
    """Read `ORDERS_*` from the environment; a malformed value stops start-up."""
    return from_env(OrdersSettings, "ORDERS", env)
