"""Bearer-token verification at the gateway.

Access tokens are ES256 JWTs signed by the users service. The public keys come from its
JWKS (`GET /api/users/.well-known/jwks.json`, by Dapr service invocation) and are cached:
an unknown `kid` triggers a refresh, at most once per `refresh_floor` seconds, so a flood
of forged kids cannot turn into a flood of calls to users. The algorithm is pinned (no
`none`, no HMAC with the public key), and issuer, audience and expiry are checked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import msgspec
import structlog

from services.common.auth import ROLES, Identity
from services.common.contracts.internal import JWKS, JwkSet
from services.common.dapr import Sidecar
from services.common.errors import DomainError, Unauthorized, Unavailable
from services.common.names import TOKEN_ALGORITHM, TOKEN_AUDIENCE, TOKEN_ISSUER, USERS
from services.common.revocation import RevocationList

log = structlog.get_logger(__name__)

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JWT type, not a secret)
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class Authenticator:
    """Turns an Authorization header into a verified Identity, or None when absent."""

    def __init__(self, sidecar: Sidecar, *, refresh_floor: float = 30.0,
                 max_age: float = 600.0, leeway: float = 5.0,
                 revocations: RevocationList | None = None) -> None:
        self.sidecar = sidecar
        self.revocations = revocations
        self.refresh_floor = refresh_floor
        self.max_age = max_age
        self.leeway = leeway
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def identify(self, authorization: str | None) -> Identity | None:
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized("Expected 'Authorization: Bearer <access token>'")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is malformed") from None
        kid = header.get("kid")
        if header.get("alg") != TOKEN_ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE \
                or not isinstance(kid, str):
            raise Unauthorized("The token is not an access token of this platform")
        key = await self._key(kid)
        try:
            claims = jwt.decode(token, key, algorithms=[TOKEN_ALGORITHM], audience=TOKEN_AUDIENCE,
                                issuer=TOKEN_ISSUER, leeway=self.leeway,
                                options={"require": REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("The token is invalid") from None
        role, email = claims.get("role"), claims.get("email")
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError:
            raise Unauthorized("The token is invalid") from None
        if role not in ROLES or (email is not None and not isinstance(email, str)):
            raise Unauthorized("The token is invalid")
        sid = claims.get("sid")
        if self.revocations is not None and await self.revocations.revoked(
                str(user_id), sid if isinstance(sid, str) else None, int(claims["iat"]),
                strict=role == "admin"):
            raise Unauthorized("The session has ended; sign in again")
        verified = claims.get("email_verified")
        return Identity(user_id=user_id, role=role, email=email,
                        email_verified=verified if isinstance(verified, bool) else None)

    async def _key(self, kid: str) -> Any:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self.max_age:
            return key
        # Unknown kid or stale set: refresh, but never more often than the floor (a shorter
        # one while no key is known yet, so a users outage is not multiplied by our traffic).
        floor = self.refresh_floor if self._keys else min(1.0, self.refresh_floor)
        if now - self._attempted_at >= floor:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            if not self._keys:
                raise Unavailable("Token keys are unavailable; try again shortly")
            raise Unauthorized("The token was signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._attempted_at < min(1.0, self.refresh_floor):
                return  # another request refreshed while this one waited
            self._attempted_at = time.monotonic()
            try:
                body = await self.sidecar.invoke_json(USERS, "GET", JWKS, timeout=5.0)
                keys = {}
                for jwk in msgspec.convert(body, JwkSet).keys:
                    if jwk.alg != TOKEN_ALGORITHM:
                        continue
                    keys[jwk.kid] = jwt.PyJWK(msgspec.to_builtins(jwk),
                                              algorithm=TOKEN_ALGORITHM).key
            except (DomainError, KeyError, TypeError, jwt.PyJWTError,
                    msgspec.DecodeError) as exc:
                # Keep the keys we have; a users outage must not log everyone out.
                log.warning("jwks_refresh_failed", error=type(exc).__name__)
                return
            if keys:
                self._keys = keys
                self._fetched_at = time.monotonic()
                log.info("jwks_refreshed", kids=sorted(keys))
