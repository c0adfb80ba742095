"""Fixed-window counters in the Dapr state store, shared by every replica.

A window opens at the first hit of a key and lasts `window` seconds; the count and the
window's end are stored together and updated with first-write etags, so concurrent
replicas never lose a hit.
"""

from __future__ import annotations

import hashlib
import math
import time

import msgspec

from services.common.dapr import Sidecar
from services.common.errors import TooManyRequests
from services.common.names import STATESTORE

_ATTEMPTS = 8


class _Window(msgspec.Struct):
    n: int
    reset: float


def subject_key(kind: str, scope: str, subject: str) -> str:
    """A state key that does not store the e-mail or address itself."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"ratelimit:{kind}:{scope}:{digest}"


class RateLimiter:
    def __init__(self, sidecar: Sidecar, window_seconds: int) -> None:
        self.sidecar = sidecar
        self.window = window_seconds

    async def _read(self, key: str) -> tuple[_Window | None, str | None]:
        raw, etag = await self.sidecar.get_state_etag(STATESTORE, key)
        if raw is None:
            return None, None
        try:
            return msgspec.json.decode(raw, type=_Window), etag
        except msgspec.DecodeError:
            return None, etag

    async def count(self, key: str) -> tuple[int, float]:
        """Hits in the current window and the seconds until it ends."""
        current, _ = await self._read(key)
        now = time.time()
        if current is None or current.reset <= now:
            return 0, 0.0
        return current.n, current.reset - now

    async def hit(self, key: str) -> tuple[int, float]:
        """Count one hit; returns the new count and the seconds until the window ends."""
        for _ in range(_ATTEMPTS):
            current, etag = await self._read(key)
            now = time.time()
            if current is None or current.reset <= now:
                current = _Window(n=0, reset=now + self.window)
            current.n += 1
            ttl = max(1, math.ceil(current.reset - now))
            if await self.sidecar.try_save_state(STATESTORE, key, msgspec.to_builtins(current),
                                                 etag=etag, ttl_seconds=ttl):
                return current.n, current.reset - now
        # Lost every race: the key is being hammered, which is what the limit is for.
        return 1 << 30, float(self.window)

    async def reset(self, key: str) -> None:
        await self.sidecar.delete_state(STATESTORE, key)

    @staticmethod
    def refuse(retry_after: float, what: str) -> TooManyRequests:
        return TooManyRequests(f"Too many {what}; try again later",
                               retry_after=max(1, math.ceil(retry_after)))
