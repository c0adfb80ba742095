"""Names, prices and availability from the catalog, read when a basket is shown or changed.

Through Dapr service invocation of products' `POST /internal/products/batch` (current name,
price, active flag and stock, straight from its database). The answers are kept in memory
under the catalog version that products keeps in the `cache` store and replaces, before it
returns, on every catalog write (services/products/cache.py): a kept answer is reused only
while the version read at the start of the request is the one it was fetched under, so a
basket never shows a price older than a change that has returned. Stock-only changes move
the version at most once a second, so availability may trail by that much. When the version
cannot be read, every lookup goes to products.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec
import structlog
from prometheus_client import Counter

from services.common.contracts.internal import (
    PRODUCT_BATCH,
    ProductBatchItem,
    ProductBatchRead,
    ProductBatchRequest,
)
from services.common.dapr import Sidecar
from services.common.errors import DomainError, Unavailable
from services.common.names import CACHE, PRODUCTS

log = structlog.get_logger(__name__)

# The key products writes its catalog version under (services/products/cache.py VERSION_KEY;
# tests/unit/basket checks they agree).
VERSION_KEY = "catalog:version"
MAX_ENTRIES = 20_000

LOOKUPS = Counter("ecommerce_basket_catalog_lookups_total",
                  "Products priced for a basket: hit (kept answer, version unchanged) or "
                  "miss (asked products)", ["result"])

_decoder = msgspec.json.Decoder(ProductBatchRead)


class Catalog:
    def __init__(self, sidecar: Sidecar, max_entries: int = MAX_ENTRIES) -> None:
        self.sidecar = sidecar
        self.max_entries = max_entries
        self._kept: dict[uuid.UUID, tuple[bytes, ProductBatchItem]] = {}

    async def version(self) -> bytes | None:
        """The current catalog version, or None when it cannot be read."""
        try:
            raw, _ = await self.sidecar.get_state_etag(CACHE, VERSION_KEY)
        except DomainError as exc:
            log.warning("catalog_version_unreadable", error=exc.detail)
            return None
        return raw.strip(b'"') if raw else None

    async def lookup(self, ids: Iterable[uuid.UUID],
                     version: bytes | None) -> dict[uuid.UUID, ProductBatchItem]:
        """The products by id as of `version` (read before this call); unknown ids are absent."""
        out: dict[uuid.UUID, ProductBatchItem] = {}
        missing: list[uuid.UUID] = []
        for pid in dict.fromkeys(ids):
            kept = self._kept.get(pid) if version is not None else None
            if kept is not None and kept[0] == version:
                out[pid] = kept[1]
            else:
                missing.append(pid)
        if out:
            LOOKUPS.labels("hit").inc(len(out))
        if missing:
            LOOKUPS.labels("miss").inc(len(missing))
            fetched = await self.fetch(missing)
            out.update(fetched)
            if version is not None:
                if len(self._kept) + len(fetched) > self.max_entries:
                    self._kept.clear()
                for pid, item in fetched.items():
                    self._kept[pid] = (version, item)
        return out

    async def fetch(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, ProductBatchItem]:
        r = await self.sidecar.invoke(PRODUCTS, "POST", PRODUCT_BATCH,
                                      json=ProductBatchRequest(ids=ids), timeout=10.0)
        if r.status_code != 200:
            log.warning("catalog_lookup_failed", status=r.status_code, body=r.text[:200])
            raise Unavailable("The catalog cannot be read right now; try again")
        return {item.id: item for item in _decoder.decode(r.content).items}
