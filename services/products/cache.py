"""Read-through cache of product pages and products in the Dapr `cache` state store.

Consistency: every entry carries the catalog version it was computed under, and a lookup
reads the entry together with the current version in one bulk call; an entry of another
version is a miss. A write commits to the database first, then (in one Dapr state
transaction) deletes the product's own entry and sets a fresh random version. A reader
reads the version before it queries the database, so an entry can only carry the current
version if its query ran after the last write's commit: once a write has returned, no
client reads what it changed from the cache. Entries also expire after `ttl` seconds.

Each answer names the version it is valid under, so the gateway can keep it too and reuse
it only while that version is current (services/gateway/edgecache.py).

Stock levels are the exception: inventory's stock.changed arrives with every reservation,
and a new version on each would leave nothing cached while orders come in (a sale is when
the catalog is read most). A stock change only marks the cache; one new version covers all
the changes of the last `stock_delay` seconds (1 s), so stock shown in the catalog is at most
that much older than the read model, which is itself fed asynchronously by events. Prices,
names and every other admin write still get a new version before the write returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import msgspec
import structlog
from dapr.aio.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError, DaprInternalError
from prometheus_client import Counter

from services.common.dapr_sdk import TransactionalStateOperation, TransactionOperationType
from services.common.errors import Unavailable
from services.common.names import CACHE

log = structlog.get_logger(__name__)

VERSION_KEY = "catalog:version"
DEFAULT_TTL = 60
DEFAULT_STOCK_DELAY = 1.0
CACHE_ERRORS = (DaprGrpcError, DaprInternalError, OSError, UnicodeDecodeError)

LOOKUPS = Counter("ecommerce_products_cache_requests",
                  "Product cache lookups in the Dapr cache store, by kind and result "
                  "(hit, miss, error)", ["kind", "result"])
INVALIDATIONS = Counter("ecommerce_products_cache_invalidations",
                        "Catalog writes that invalidated the product cache", ["reason"])


_SEP = b"|"


def _bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def item_key(product_id: uuid.UUID | str) -> str:
    return f"product:{product_id}"


class Cached(NamedTuple):
    body: bytes | None
    # The catalog version `body` is valid under; None when the cache store is unreachable.
    version: str | None


def list_key(query: msgspec.Struct) -> str:
    digest = hashlib.sha256(msgspec.json.encode(query)).hexdigest()[:32]
    return f"products:{digest}"


class ProductCache:
    """Versioned read-through cache over the sidecar's gRPC state API (the Dapr SDK's async
    client): entries are raw bytes (`<version>|<JSON body>`), read in bulk and replaced in
    state transactions, which the gRPC API carries as they are (docs/architecture.md,
    "Reaching Dapr")."""

    def __init__(self, dapr: DaprClient, *, store: str = CACHE, ttl: int = DEFAULT_TTL,
                 stock_delay: float = DEFAULT_STOCK_DELAY) -> None:
        self.dapr = dapr
        self.store = store
        self.ttl = ttl
        self.stock_delay = stock_delay
        self._ttl_metadata = {"ttlInSeconds": str(ttl)}
        self._stock_dirty = False
        self._stock_task: asyncio.Task[None] | None = None

    async def read_through(self, kind: str, key: str,
                           compute: Callable[[], Awaitable[bytes | None]]) -> Cached:
        """The cached JSON body under `key`, or `compute()` stored for the next reader, with
        the catalog version it is valid under.

        `compute` returning None (nothing to show) is not cached. A cache that cannot be
        reached is bypassed: reads still work from the database.
        """
        try:
            version, body = await self._lookup(key)
        except CACHE_ERRORS as exc:
            LOOKUPS.labels(kind, "error").inc()
            log.warning("cache_unavailable", key=key, error=str(exc)[:200])
            return Cached(await compute(), None)
        if body is not None:
            LOOKUPS.labels(kind, "hit").inc()
            return Cached(body, version)
        LOOKUPS.labels(kind, "miss").inc()
        if version is None:
            version = await self._new_version(None)
        fresh = await compute()
        if fresh is not None and version is not None:
            try:
                await self.dapr.save_state(self.store, key, version.encode() + _SEP + fresh,
                                           state_metadata=self._ttl_metadata)
            except CACHE_ERRORS as exc:
                log.warning("cache_store_failed", key=key, error=str(exc)[:200])
        return Cached(fresh, version)

    async def _lookup(self, key: str) -> tuple[str | None, bytes | None]:
        """The current catalog version and the entry under `key` if it has that version,
        read together in one call."""
        response = await self.dapr.get_bulk_state(self.store, [VERSION_KEY, key], parallelism=2)
        version: str | None = None
        entry = b""
        for item in response.items:
            if item.key == VERSION_KEY and item.data:
                version = _bytes(item.data).strip(b'"').decode()
            elif item.key == key:
                entry = _bytes(item.data)
        if version is not None and entry:
            entry_version, _, body = entry.partition(_SEP)
            if entry_version.decode() == version:
                return version, body
        return version, None

    async def _new_version(self, delete: str | None) -> str | None:
        """Set a fresh catalog version (and delete `delete`) in one state transaction."""
        version = uuid.uuid4().hex
        ops = [TransactionalStateOperation(key=VERSION_KEY, data=version)]
        if delete is not None:
            ops.append(TransactionalStateOperation(
                key=delete, operation_type=TransactionOperationType.delete))
        try:
            await self.dapr.execute_state_transaction(self.store, ops)
        except CACHE_ERRORS as exc:
            log.warning("cache_version_failed", error=str(exc)[:200])
            return None
        return version

    def stock_changed(self) -> None:
        """A stock level changed in the read model: a new version within `stock_delay`."""
        self._stock_dirty = True
        if self._stock_task is None or self._stock_task.done():
            self._stock_task = asyncio.get_running_loop().create_task(self._refresh_stock())

    async def _refresh_stock(self) -> None:
        while self._stock_dirty:
            await asyncio.sleep(self.stock_delay)
            self._stock_dirty = False
            if await self._new_version(None) is None:
                self._stock_dirty = True  # the cache store is unreachable: try again
            else:
                INVALIDATIONS.labels("stock").inc()

    async def aclose(self) -> None:
        """Apply a pending stock change now (shutdown), then stop."""
        if self._stock_task is not None and not self._stock_task.done():
            self._stock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stock_task
            if self._stock_dirty:
                await self._new_version(None)

    async def invalidate(self, product_id: uuid.UUID | None, reason: str) -> None:
        """After a committed write: drop the product's entry and every listing.

        Retries briefly; if the cache stays unreachable the write's caller gets a 503
        (the write itself is committed, and entries expire after the TTL).
        """
        delete = item_key(product_id) if product_id is not None else None
        for attempt in range(3):
            if await self._new_version(delete) is not None:
                INVALIDATIONS.labels(reason).inc()
                return
            await asyncio.sleep(0.1 * (attempt + 1))
        raise Unavailable("The product cache could not be invalidated; cached reads may be "
                          f"stale for up to {self.ttl} seconds")
