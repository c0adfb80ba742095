"""The edge cache's rules that need no stack: what bypasses it, the version marker, the
memory bound and the lifetime of entries (the integration tests cover revalidation)."""

from __future__ import annotations

import asyncio

import pytest

from services.common.settings import ConfigError
from services.gateway import edgecache
from services.gateway.edgecache import EdgeCache, EdgeCacheSettings, parse_version, wants_bypass


@pytest.mark.parametrize("headers", [
    {b"authorization": b"Bearer x"}, {b"cookie": b"a=1"}, {b"cache-control": b"no-cache"},
    {b"cache-control": b"max-age=0, No-Store"}, {b"pragma": b"no-cache"},
])
def test_credentials_and_no_cache_bypass(headers: dict[bytes, bytes]) -> None:
    assert wants_bypass(headers)


@pytest.mark.parametrize("headers", [{}, {b"accept": b"application/json"},
                                     {b"cache-control": b"max-age=60"}])
def test_plain_anonymous_reads_may_be_served(headers: dict[bytes, bytes]) -> None:
    assert not wants_bypass(headers)


def test_version_marker() -> None:
    assert parse_version(b"catalog:version=abc") == ("catalog:version", b"abc")
    for bad in (b"", b"novalue=", b"=abc", b"noequals", b"k" * 201 + b"=v"):
        assert parse_version(bad) is None


def test_entries_are_bounded_by_bytes_least_recently_stored_first() -> None:
    cache = EdgeCache(EdgeCacheSettings(max_bytes=3000, ttl=60))
    for n in range(5):
        cache.store(f"/k{n}", b"v=1", [(b"content-type", b"application/json")], b"x" * 900)
    assert len(cache) == 3
    assert list(cache._entries) == ["/k2", "/k3", "/k4"]
    cache.store("/big", b"v=1", [], b"x" * (edgecache.MAX_ENTRY_BYTES + 1))
    assert "/big" not in cache._entries
    cache.store("/bad", b"no-marker", [], b"{}")
    assert "/bad" not in cache._entries


async def test_an_expired_entry_is_dropped_without_asking_the_store() -> None:
    cache = EdgeCache(EdgeCacheSettings(ttl=0.01))
    cache.store("/k", b"v=1", [], b"{}")
    await asyncio.sleep(0.02)
    # no session is needed: an expired entry never reaches the version check
    assert await cache.lookup("/k", None) is None  # type: ignore[arg-type]
    assert len(cache) == 0


def test_settings() -> None:
    assert edgecache.load_settings({}) == EdgeCacheSettings()
    off = edgecache.load_settings({"EDGE_CACHE_MAX_BYTES": "0"})
    assert not EdgeCache(off).enabled
    for bad in ({"EDGE_CACHE_MAX_BYTES": "lots"}, {"EDGE_CACHE_TTL_SECONDS": "0"},
                {"EDGE_CACHE_MAX_BYTES": "-1"}):
        with pytest.raises(ConfigError):
            edgecache.load_settings(bad)


async def test_an_unreadable_version_sends_the_request_to_the_service() -> None:
    """A sidecar that refuses connections (nothing listens on the port): no answer from the
    cache, the caller forwards the request instead."""
    import socket

    from services.common.dapr import Sidecar

    with socket.socket() as s:  # a loopback port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = EdgeCache(EdgeCacheSettings())
    cache.store("/k", b"catalog:version=1", [], b"{}")
    errors = edgecache.LOOKUPS.labels("error")._value.get()
    sidecar = Sidecar(f"http://127.0.0.1:{port}")
    try:
        assert await cache.lookup("/k", sidecar) is None
    finally:
        await sidecar.aclose()
    assert edgecache.LOOKUPS.labels("error")._value.get() == errors + 1
    assert len(cache) == 1  # kept: the version may still be current once readable


async def test_an_entry_dropped_while_its_version_is_read_is_no_500() -> None:
    """Found by the load run (bench/load.sh): while one request awaited the version, another
    found it stale and dropped the entry, and the first one's LRU bookkeeping raised a
    KeyError (a 500 at the gateway). A loopback server answers the state read slowly."""
    from aiohttp import web

    from services.common.dapr import Sidecar

    version = b'"1"'

    async def state(_: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=version, headers={"ETag": "1"})

    app = web.Application()
    app.router.add_get("/v1.0/state/{store}/{key}", state)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sidecar = Sidecar(f"http://127.0.0.1:{port}")
    cache = EdgeCache(EdgeCacheSettings())
    try:
        cache.store("/k", b"catalog:version=1", [], b"{}")
        first = asyncio.create_task(cache.lookup("/k", sidecar))
        await asyncio.sleep(0.01)
        cache._drop("/k")  # what a concurrent stale lookup or an eviction does
        assert await first is not None  # the version it read was current: still a hit
        assert len(cache) == 0

        cache.store("/k", b"catalog:version=1", [], b"{}")
        first = asyncio.create_task(cache.lookup("/k", sidecar))
        await asyncio.sleep(0.01)
        cache.store("/k", b"catalog:version=2", [], b"{}")  # a newer answer meanwhile
        version = b'"2"'
        assert await first is None  # stale for the first request...
        assert cache._entries["/k"].version == b"2"  # ...which keeps the newer entry
    finally:
        await sidecar.aclose()
        await runner.cleanup()
