"""Bearer-token verification at the gateway (see docs/security.md)."""

from __future__ import annotations

from services.common.auth import Identity
from services.common.errors import Unauthorized


class Authenticator:
    """Turns an Authorization header into a verified Identity, or None when absent."""

    async def identify(self, authorization: str | None) -> Identity | None:
        if not authorization:
            return None
        raise Unauthorized("Token verification is not configured")
