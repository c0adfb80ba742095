"""Baskets in the Dapr `statestore` component: one JSON document per basket, written with
first-write-wins ETags and a TTL (`ttlInSeconds`) renewed by every change.

A change is read-modify-write: read the document and its ETag, apply the change, save it
only if the ETag is unchanged (a new basket only if the key is still absent). When another
request saved in between, the change is applied again to what that request wrote, a bounded
number of times with a short random pause, so two tabs never lose each other's update.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import msgspec
from prometheus_client import Counter

from services.basket.schemas import BasketDoc
from services.common.contracts.errors import ErrorCode
from services.common.dapr import Sidecar
from services.common.internal import CodedError
from services.common.names import STATESTORE

MAX_ATTEMPTS = 30
MAX_PAUSE = 0.05  # seconds, the cap of the random pause between attempts

CONFLICTS = Counter("ecommerce_basket_write_conflicts_total",
                    "Basket saves refused because another request changed the basket first")

# A change gets the current document (None when the basket does not exist) and returns the
# document to save, or None when nothing needs saving.
Change = Callable[[BasketDoc | None], BasketDoc | None]

_decoder = msgspec.json.Decoder(BasketDoc)


class Busy(CodedError):
    def __init__(self) -> None:
        super().__init__(409, ErrorCode.BASKET_BUSY,
                         "The basket is being changed by other requests; try again")


class BasketStore:
    def __init__(self, sidecar: Sidecar, store: str = STATESTORE) -> None:
        self.sidecar = sidecar
        self.store = store

    async def read(self, key: str) -> tuple[BasketDoc | None, str | None]:
        raw, etag = await self.sidecar.get_state_etag(self.store, key)
        if raw is None:
            return None, None
        return _decoder.decode(raw), etag

    async def create(self, key: str, doc: BasketDoc, ttl_seconds: int) -> bool:
        """Save a new basket; False when the key exists already."""
        return await self.sidecar.try_save_state(self.store, key, doc, etag=None,
                                                 ttl_seconds=ttl_seconds)

    async def update(self, key: str, change: Change, ttl_seconds: int) -> BasketDoc | None:
        """Apply `change` to the current document and save it (see the module docstring).
        Returns what was saved, or the document as read when `change` saved nothing."""
        for attempt in range(MAX_ATTEMPTS):
            doc, etag = await self.read(key)
            new = change(doc)
            if new is None:
                return doc
            if await self.sidecar.try_save_state(self.store, key, new, etag=etag,
                                                 ttl_seconds=ttl_seconds):
                return new
            CONFLICTS.inc()
            await asyncio.sleep(random.uniform(0, min(MAX_PAUSE, 0.002 * 2 ** attempt)))
        raise Busy()

    async def delete(self, key: str) -> None:
        await self.sidecar.delete_state(self.store, key)
