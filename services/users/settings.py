"""Typed settings of the users service: token lifetimes and abuse limits, read once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from services.common.settings import from_env

Positive = Annotated[int, msgspec.Meta(ge=1)]


class UsersSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Token lifetimes and rate limits; every value can be set with `USERS_<NAME>` (seconds
    or counts). The defaults are the production ones; dapr/dapr.yaml shortens the window
    for the local stack so the tests can watch a limit recover."""

    access_token_ttl_seconds: Positive = 15 * 60
    refresh_token_ttl_seconds: Positive = 14 * 24 * 3600
    # A refresh chain (one sign-in and its rotations) ends this long after the sign-in,
    # however often it was used: a stolen chain cannot be kept alive forever.
    refresh_chain_max_seconds: Positive = 30 * 24 * 3600
    # Links sent by e-mail (services/users/links.py), and how often a reset may be asked
    # for per address and per e-mail (known or not) in `rate_window_seconds`.
    verify_link_ttl_seconds: Positive = 48 * 3600
    reset_link_ttl_seconds: Positive = 30 * 60
    password_resets_per_account: Positive = 3
    password_resets_per_ip: Positive = 10
    rate_window_seconds: Positive = 15 * 60
    # Wrong guesses per account from one address, and per address over all accounts, per
    # rate window; per account over all addresses per `account_window_seconds`
    # (services/users/throttle.py).
    login_failures_per_account: Positive = 5
    login_failures_per_ip: Positive = 20
    login_failures_per_account_total: Positive = 50
    account_window_seconds: Positive = 3600
    registrations_per_ip: Positive = 10
    registrations_per_account: Positive = 5


def load(env: Mapping[str, str] | None = None) -> UsersSettings:
    """Read `USERS_*` overrides from the environment; a malformed value stops start-up."""
    return from_env(UsersSettings, "USERS", env)
