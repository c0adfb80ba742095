"""Typed settings of the gateway, read once at start-up (services.common.settings.from_env).

The variables keep the names the deployments set (each field is its variable, lower-case):
RATE_LIMIT_*, EDGE_CACHE_*, OPENAPI_TTL_SECONDS, FORWARDED_ALLOW_IPS, GATEWAY_INTERNAL_PORT,
GATEWAY_CORS_ORIGINS, REVOCATION_CHECK_SECONDS. A malformed value stops start-up naming its
variable; the lists inside strings (rate-limit rules, proxies, origins) are parsed when the
parts' own settings are built from these (ratelimit, clientaddr, surface), also at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from services.common.revocation import CHECK_SECONDS
from services.common.settings import from_env

# `LIMIT/SECONDS`, e.g. 600/60.
Rate = Annotated[str, msgspec.Meta(pattern=r"^\s*\d+\s*/\s*\d+\s*$")]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True):
    # Production-minded defaults; the local stack raises the limits in dapr/dapr.yaml.
    rate_limit_read: Rate = "600/60"
    rate_limit_write: Rate = "120/60"
    # Rules tried first: `name METHODS PATH-GLOB N/S; ...` (ratelimit.parse_rules).
    rate_limit_rules: str = ""
    rate_limit_sync_seconds: Seconds = 1.0
    rate_limit_enabled: bool = True
    edge_cache_max_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 << 20
    edge_cache_ttl_seconds: Seconds = 60.0
    openapi_ttl_seconds: Seconds = 60.0
    # Proxies whose X-Forwarded-For is believed: addresses or CIDR ranges (clientaddr.py).
    forwarded_allow_ips: str = ""
    # The port that serves /metrics and /schema, off the public one (surface.py).
    gateway_internal_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 9080
    # Origins CORS allows, comma-separated, e.g. https://shop.example (surface.py).
    gateway_cors_origins: str = ""
    # How long a session's "not revoked" answer is reused; at most a minute.
    revocation_check_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = CHECK_SECONDS


def load(env: Mapping[str, str] | None = None) -> GatewaySettings:
    """Read the gateway's variables; a bad value stops start-up."""
    return from_env(GatewaySettings, "", env)
