"""Typed settings of the users service: token lifetimes and abuse limits, read once."""

from __future__ import annotations

import msgspec

from services.common.settings import positive_int_overrides


class UsersSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Token lifetimes and rate limits; every value can be set with `USERS_<NAME>` (seconds
    or counts). The defaults are the production ones; dapr/dapr.yaml shortens the window
    for the local stack so the tests can watch a limit recover."""

    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    rate_window_seconds: int = 15 * 60
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    registrations_per_ip: int = 10
    registrations_per_account: int = 5


def load(env: dict[str, str] | None = None) -> UsersSettings:
    """Read `USERS_*` overrides from the environment; a malformed value stops start-up."""
    return positive_int_overrides(UsersSettings, "USERS", env)
