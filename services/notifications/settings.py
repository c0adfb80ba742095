"""Typed settings of the notifications service, read once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from services.common.settings import from_env

DEFAULT_MAX_ATTEMPTS = 5


class NotificationsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """`NOTIFICATIONS_MAX_ATTEMPTS` (1 to 100): sends per notification before it is marked
    failed and dead-lettered. Keep it at most 1 + pubsubRetry.maxRetries
    (components/resiliency.yaml); beyond that Dapr dead-letters the message first, and the
    dead-letter handler marks the notification failed."""

    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = DEFAULT_MAX_ATTEMPTS
    # `NOTIFICATIONS_SHOP_URL`: where the links of account e-mails point (the public origin).
    shop_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+$")] = \
        "http://127.0.0.1:8080"


def load(env: Mapping[str, str] | None = None) -> NotificationsSettings:
    """Read `NOTIFICATIONS_*` from the environment; a bad value stops start-up."""
    return from_env(NotificationsSettings, "NOTIFICATIONS", env)
