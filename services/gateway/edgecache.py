"""The gateway's cache of public reads, revalidated on every use.

A service marks an answer as reusable by naming, in HEADER_CACHE_VERSION, a key of the
`cache` state store and the value that key had when the answer was computed (products
names its catalog version, which every catalog write replaces before it returns;
services/products/cache.py). The gateway keeps such an answer in memory and serves it
again only after reading that key and finding the same value, so reusing it costs one
state read through the gateway's own sidecar instead of the hop through both sidecars and
the service.

Why that never serves a changed price once the change has returned: the service reads the
version before it queries its database, so an answer carries version V only if its query
ran after every write that finished before V was set; a write replaces V before returning;
the gateway reads the version after the request arrived. An answer whose version is not
current is never reused, whatever its age.

Only anonymous GETs are served from or stored in the cache (a request with credentials
goes to the service, as RFC 9111 asks of shared caches), only 200 answers are kept, and
`Cache-Control: no-cache` (or `no-store`) on a request sends it to the service. When the
version cannot be read the request goes to the service. Memory is bounded by
EDGE_CACHE_MAX_BYTES (least recently used first out; 0 turns the cache off), and entries
are dropped after EDGE_CACHE_TTL_SECONDS even while still valid.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from prometheus_client import Counter

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.common.names import CACHE, HEADER_BASKET_TOKEN
from services.gateway import settings as gateway_settings
from services.gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

LOOKUPS = Counter("ecommerce_gateway_edge_cache_total",
                  "Public reads by edge-cache outcome: hit (served by the gateway), miss (no "
                  "entry), stale (the version changed), bypass (credentials or no-cache), "
                  "error (the version could not be read)", ["result"])

DEFAULT_MAX_BYTES = 64 << 20
_BASKET_TOKEN = HEADER_BASKET_TOKEN.encode()  # a guest basket's credential
DEFAULT_TTL = 60.0
MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True)
class EdgeCacheSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    ttl: float = DEFAULT_TTL


def from_settings(conf: GatewaySettings) -> EdgeCacheSettings:
    return EdgeCacheSettings(max_bytes=conf.edge_cache_max_bytes,
                             ttl=conf.edge_cache_ttl_seconds)


def load_settings(env: Mapping[str, str]) -> EdgeCacheSettings:
    """The edge cache's settings straight from the environment (EDGE_CACHE_*)."""
    return from_settings(gateway_settings.load(env))


@dataclass(frozen=True, slots=True)
class Entry:
    version_key: str
    version: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    expires: float

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 64


def wants_bypass(headers: Mapping[bytes, bytes]) -> bool:
    """True for a request the cache must not answer: it carries credentials, or the
    client asks for a fresh answer."""
    if b"authorization" in headers or b"cookie" in headers or _BASKET_TOKEN in headers:
        return True
    directives = headers.get(b"cache-control", b"") + b"," + headers.get(b"pragma", b"")
    return b"no-cache" in directives.lower() or b"no-store" in directives.lower()


def parse_version(value: bytes) -> tuple[str, bytes] | None:
    """`<key>=<value>` from HEADER_CACHE_VERSION, or None when malformed."""
    key, sep, version = value.partition(b"=")
    if not sep or not key or not version or len(key) > 200:
        return None
    return key.decode("latin-1"), version


class EdgeCache:
    def __init__(self, settings: EdgeCacheSettings) -> None:
        self.settings = settings
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self.settings.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def lookup(self, key: str, sidecar: Sidecar) -> Entry | None:
        """The entry for `key` if the version it names is still the current one."""
        entry = self._entries.get(key)
        if entry is None:
            LOOKUPS.labels("miss").inc()
            return None
        if entry.expires <= time.monotonic():
            self._drop(key)
            LOOKUPS.labels("miss").inc()
            return None
        try:
            current, _ = await sidecar.get_state_etag(CACHE, entry.version_key)
        except DomainError as exc:  # the sidecar or the store is unreachable
            LOOKUPS.labels("error").inc()
            log.warning("edge_cache_version_unreadable", key=entry.version_key,
                        error=type(exc).__name__)
            return None
        # Other requests ran while the version was read: the entry may have been dropped,
        # evicted or replaced by a newer answer meanwhile, so only this entry is touched.
        still_here = self._entries.get(key) is entry
        if current is None or current.strip(b'"') != entry.version:
            if still_here:
                self._drop(key)
            LOOKUPS.labels("stale").inc()
            return None
        if still_here:
            self._entries.move_to_end(key)
        LOOKUPS.labels("hit").inc()
        return entry

    def store(self, key: str, version: bytes, headers: list[tuple[bytes, bytes]],
              body: bytes) -> None:
        """Keep a 200 answer that named `version` (the raw HEADER_CACHE_VERSION value)."""
        parsed = parse_version(version)
        if parsed is None or len(body) > MAX_ENTRY_BYTES:
            return
        entry = Entry(version_key=parsed[0], version=parsed[1], headers=tuple(headers),
                      body=body, expires=time.monotonic() + self.settings.ttl)
        self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.settings.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size


__all__ = ["EdgeCache", "EdgeCacheSettings", "Entry", "load_settings", "wants_bypass"]
