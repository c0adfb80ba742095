"""Server-side sessions in the Dapr `statestore`.

The browser holds one opaque, random session id (256 bits) in an HttpOnly cookie; what the
session knows (the shopper, the access and refresh tokens, the guest basket token, flash
messages) stays on the server under the key `web-session-<sha256(id)>`, so a look at the
store does not hand out live cookies. A visitor who only browses gets a cookie but no
state: the session is written the first time it holds something.

The CSRF token of a session is derived from its id (HMAC-free: the id is secret and never
readable by script), so a page can carry a token without a state write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import aiohttp
import msgspec

from services.common.dapr import Sidecar
from services.common.errors import Unavailable
from services.common.names import STATESTORE

COOKIE = "shop_session"
# Guest sessions live a week (like guest baskets); a signed-in one as long as its refresh token.
GUEST_TTL = 7 * 24 * 3600
USER_TTL = 14 * 24 * 3600
_JSON = {"content-type": "application/json"}


class User(msgspec.Struct, frozen=True):
    id: str
    email: str
    name: str
    role: str = "customer"


class SessionData(msgspec.Struct, kw_only=True):
    user: User | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires: float = 0.0
    basket_token: str | None = None  # a guest's basket (POST /api/basket/guest)
    flash: list[tuple[str, str]] = msgspec.field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.user is None and self.basket_token is None and not self.flash


def new_id() -> str:
    return secrets.token_urlsafe(32)


def valid_id(raw: str | None) -> bool:
    return raw is not None and 40 <= len(raw) <= 64 and raw.replace("-", "").replace(
        "_", "").isalnum()


def csrf_token(session_id: str) -> str:
    digest = hashlib.sha256(b"csrf\0" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_ok(session_id: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_id), sent)


def _key(session_id: str) -> str:
    return "web-session-" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


class SessionStore:
    """Load, save and delete sessions through the sidecar's state API."""

    def __init__(self, sidecar: Sidecar) -> None:
        self.sidecar = sidecar

    async def load(self, session_id: str) -> SessionData | None:
        value, _ = await self.sidecar.get_state_etag(STATESTORE, _key(session_id))
        if value is None:
            return None
        try:
            return msgspec.json.decode(value, type=SessionData)
        except msgspec.ValidationError:
            return None  # a session written by an older shape: start again

    async def save(self, session_id: str, data: SessionData) -> None:
        ttl = USER_TTL if data.user is not None else GUEST_TTL
        item: dict[str, Any] = {"key": _key(session_id), "value": data,
                                "metadata": {"ttlInSeconds": str(ttl)}}
        try:
            r = await self.sidecar.request("POST", f"/v1.0/state/{STATESTORE}",
                                           content=msgspec.json.encode([item]), headers=_JSON)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise Unavailable("Dapr sidecar unreachable (save session)") from exc
        if r.status_code >= 300:
            raise Unavailable(f"Dapr could not save the session: {r.status_code}")

    async def delete(self, session_id: str) -> None:
        await self.sidecar.delete_state(STATESTORE, _key(session_id))


def expires_at(expires_in: Any) -> float:
    try:
        return time.time() + float(expires_in)
    except (TypeError, ValueError):
        return time.time() + 600
