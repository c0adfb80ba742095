"""Access tokens that must stop working before they expire: the revocation list.

Access tokens are stateless JWTs (verified at the gateway without a call to users), so
ending a session in the users database alone would leave its access token valid for up
to its lifetime. The users service therefore writes, in the shared `cache` store (key
prefix `name`, so users writes and the gateway reads the same key):

- `revoked|sid|<session id>` at logout: that session's tokens (claim `sid`, the refresh
  token family) stop;
- `revoked|user|<user id>` = the time of a password change, a reset or a role change:
  every token of that user issued at or before it stops.

Each entry lives as long as an access token can (plus a minute), after which every token
it names has expired anyway. The gateway checks both keys for a token and keeps the
answer for `CHECK_SECONDS`, so a revocation takes effect within that time (well under a
minute) at the cost of one bulk state read per session per period, not per request.
If the store cannot be read the gateway lets a shopper's signed token through and logs
it: a Redis outage must not log every shopper out, and the token still expires. An admin's
token is refused instead (503, `strict`): an admin demoted or signed out during the outage
must not keep the back office until the token expires, and the few admins can retry.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import Any

import msgspec
import structlog

from services.common.dapr import Sidecar
from services.common.errors import DomainError, Unavailable
from services.common.names import CACHE

log = structlog.get_logger(__name__)

CHECK_SECONDS = 20.0
_JSON = {"content-type": "application/json"}


def session_key(sid: str) -> str:
    return f"revoked|sid|{sid}"


def user_key(user_id: uuid.UUID | str) -> str:
    return f"revoked|user|{user_id}"


class Revoker:
    """The users service's side: record what must stop."""

    def __init__(self, sidecar: Sidecar, access_token_ttl: int) -> None:
        self.sidecar = sidecar
        self.ttl = access_token_ttl + 60

    async def _save(self, key: str, value: Any) -> None:
        item = [{"key": key, "value": value, "metadata": {"ttlInSeconds": str(self.ttl)}}]
        r = await self.sidecar.request("POST", f"/v1.0/state/{CACHE}",
                                       content=msgspec.json.encode(item), headers=_JSON)
        if r.status_code >= 300:
            raise DomainError(f"could not record a revocation ({r.status_code})")

    async def end_session(self, sid: uuid.UUID) -> None:
        await self._save(session_key(str(sid)), 1)

    async def end_all(self, user_id: uuid.UUID) -> None:
        # Whole seconds, as `iat`: every token issued up to the end of this second stops.
        # Waiting for the next second means a token this process issues afterwards (the
        # login right after a reset) is not caught by it.
        now = time.time()
        await self._save(user_key(user_id), int(now))
        await asyncio.sleep(max(0.0, math.floor(now) + 1 - time.time()))


class RevocationUnknown(Unavailable):
    """The revocation list could not be read for a token that must not pass unchecked."""


class RevocationList:
    """The gateway's side: is this token revoked? Answers cached per session."""

    def __init__(self, sidecar: Sidecar, check_seconds: float = CHECK_SECONDS) -> None:
        self.sidecar = sidecar
        self.check_seconds = check_seconds
        self._seen: dict[tuple[str, str], tuple[float, int | None, bool | None]] = {}

    async def revoked(self, user_id: str, sid: str | None, issued_at: int, *,
                      strict: bool = False) -> bool:
        """Whether the token is revoked. When the list cannot be read (answer cached like the
        others), False, or with `strict` RevocationUnknown."""
        now = time.monotonic()
        entry = self._seen.get((user_id, sid or ""))
        if entry is None or now - entry[0] >= self.check_seconds:
            before, ended = await self._read(user_id, sid)
            if len(self._seen) > 50_000:
                self._seen.clear()  # bounded memory; the next requests re-read
            entry = (now, before, ended)
            self._seen[(user_id, sid or "")] = entry
        _, before, ended = entry
        if ended is None:
            if strict:
                raise RevocationUnknown("The session cannot be checked right now; try again "
                                        "in a few seconds")
            return False
        return ended or (before is not None and issued_at <= before)

    async def _read(self, user_id: str, sid: str | None) -> tuple[int | None, bool | None]:
        """(revoked-before time, session ended); ended is None when the list was unreadable."""
        keys = [user_key(user_id)] + ([session_key(sid)] if sid else [])
        try:
            r = await self.sidecar.request(
                "POST", f"/v1.0/state/{CACHE}/bulk",
                content=msgspec.json.encode({"keys": keys, "parallelism": 2}), headers=_JSON,
                timeout=2.0)
            if r.status_code >= 300:
                raise DomainError(f"bulk state read answered {r.status_code}")
            items = msgspec.json.decode(r.content)
        except Exception as exc:  # any failure: unknown, logged (see the module doc)
            log.warning("revocation_check_failed", error=type(exc).__name__)
            return None, None
        before: int | None = None
        ended = False
        for item in items if isinstance(items, list) else []:
            data = item.get("data") if isinstance(item, dict) else None
            if data is None:
                continue
            if item.get("key") == user_key(user_id) and isinstance(data, int):
                before = data
            elif sid and item.get("key") == session_key(sid):
                ended = True
        return before, ended
