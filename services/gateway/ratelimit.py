"""Per-client rate limits at the gateway, shared by every gateway replica.

Rules map a request (method, path) to a limit per fixed window; the first matching rule
wins. The count of each (rule, client, window) lives in the Dapr `statestore` under a key
that expires with its window, so replicas share it.

The cost trade-off: a statestore round trip on every request would add a sidecar and a
Redis hop to the hot path (bench/README.md has the figure). Instead each replica
counts locally and merges its count into the shared key with an optimistic (etag,
first-write) update in the background, at most once per `sync_interval` per active
bucket; the first request of a client in a window reads the shared count before it is
answered. A single replica is therefore exact, and N replicas may together admit up to
about N x (requests per sync interval) beyond the limit before they see each other's
counts. If the statestore is unreachable the limiter fails open (counts locally only) and
logs a warning: a Redis outage should not take the public API down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
import structlog
from prometheus_client import Counter

from services.common.dapr import Sidecar
from services.common.errors import DomainError, TooManyRequests
from services.common.names import STATESTORE
from services.common.settings import ConfigError
from services.gateway import settings as gateway_settings
from services.gateway.settings import GatewaySettings

log = structlog.get_logger(__name__)

READS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_PREFIX = "ratelimit"

LIMITED = Counter("ecommerce_gateway_rate_limited_total",
                  "Requests answered 429 by the gateway's rate limiter", ["rule"])
SYNC_ERRORS = Counter("ecommerce_gateway_rate_limit_sync_errors_total",
                      "Failed merges of local counts into the statestore")


@dataclass(frozen=True)
class Rule:
    """`limit` requests per `window` seconds per client, for matching requests."""

    name: str
    methods: frozenset[str] | None  # None: any method
    pattern: str  # a glob on the path, e.g. /api/*/health
    limit: int
    window: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(fnmatch.translate(self.pattern)))

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        regex: re.Pattern[str] = self.__dict__["_regex"]
        return regex.match(path) is not None


def _rate(spec: str, what: str) -> tuple[int, int]:
    try:
        limit, window = (int(x) for x in spec.strip().split("/"))
    except ValueError:
        raise ConfigError(f"{what} must look like LIMIT/SECONDS, got {spec!r}") from None
    if limit < 1 or window < 1:
        raise ConfigError(f"{what} must be positive, got {spec!r}")
    return limit, window


def parse_rules(spec: str) -> list[Rule]:
    """`name METHODS PATH LIMIT/SECONDS; ...` with METHODS `*` or e.g. `GET,HEAD`."""
    rules = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        fields = part.split()
        if len(fields) != 4:
            raise ConfigError(f"RATE_LIMIT_RULES entry {part!r}: want 'name METHODS PATH N/S'")
        name, methods, pattern, rate = fields
        limit, window = _rate(rate, f"RATE_LIMIT_RULES entry {name!r}")
        rules.append(Rule(name, None if methods == "*" else
                          frozenset(m.upper() for m in methods.split(",")), pattern, limit, window))
    return rules


class RateLimitSettings(msgspec.Struct, frozen=True):
    enabled: bool
    rules: list[Rule]
    sync_interval: float


def from_settings(conf: GatewaySettings) -> RateLimitSettings:
    """Rules from RATE_LIMIT_RULES first, then the read and write defaults for /api/*; a
    malformed rule or rate stops start-up."""
    rules = parse_rules(conf.rate_limit_rules)
    r_limit, r_window = _rate(conf.rate_limit_read, "RATE_LIMIT_READ")
    w_limit, w_window = _rate(conf.rate_limit_write, "RATE_LIMIT_WRITE")
    rules += [Rule("read", READS, "/api/*", r_limit, r_window),
              Rule("write", None, "/api/*", w_limit, w_window)]
    return RateLimitSettings(enabled=conf.rate_limit_enabled, rules=rules,
                             sync_interval=conf.rate_limit_sync_seconds)


def load_settings(env: Mapping[str, str] | None = None) -> RateLimitSettings:
    """The limiter's settings straight from the environment."""
    return from_settings(gateway_settings.load(env))


class _Bucket:
    __slots__ = ("expires", "key", "last_sync", "pending", "shared", "syncing", "window")

    def __init__(self, key: str, window: int, expires: float) -> None:
        self.key = key
        self.window = window
        self.expires = expires
        self.shared = 0  # the statestore's count at the last merge (ours included)
        self.pending = 0  # admitted here, not merged yet
        self.last_sync = 0.0
        self.syncing = False


class RateLimiter:
    """Admit or refuse (429) requests per client; counts merged into the statestore."""

    def __init__(self, sidecar: Sidecar, settings: RateLimitSettings, *,
                 store: str = STATESTORE) -> None:
        self.sidecar = sidecar
        self.settings = settings
        self.store = store
        self._buckets: dict[str, _Bucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_prune = 0.0

    def rule_for(self, method: str, path: str) -> Rule | None:
        for rule in self.settings.rules:
            if rule.matches(method, path):
                return rule
        return None

    @staticmethod
    def state_key(rule: Rule, client: str, window_id: int) -> str:
        return f"{KEY_PREFIX}|{rule.name}|{client}|{window_id}"

    async def check(self, client: str, method: str, path: str) -> None:
        """Count one request; raise TooManyRequests (429 + Retry-After) over the limit."""
        if not self.settings.enabled:
            return
        rule = self.rule_for(method, path)
        if rule is None:
            return
        now = time.time()
        window_id = int(now // rule.window)
        key = self.state_key(rule, client, window_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = _Bucket(key, rule.window, (window_id + 1) * rule.window)
            self._buckets[key] = bucket
            # A client new in this window: learn what the other replicas counted first.
            await self._merge(bucket)
        if bucket.shared + bucket.pending >= rule.limit:
            LIMITED.labels(rule.name).inc()
            raise TooManyRequests(
                f"Rate limit of {rule.limit} requests per {rule.window} s exceeded "
                f"({rule.name}); retry later", retry_after=math.ceil(bucket.expires - now))
        bucket.pending += 1
        if not bucket.syncing:
            # One merge in flight per bucket, at most one per sync interval; it picks up
            # everything admitted until it runs.
            bucket.syncing = True
            delay = self.settings.sync_interval - (time.monotonic() - bucket.last_sync)
            task = asyncio.get_running_loop().create_task(self._merge(bucket, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _merge(self, bucket: _Bucket, delay: float = 0.0) -> None:
        """Add the local pending count to the shared one (optimistic, retried on conflict)."""
        bucket.syncing = True
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            for _ in range(5):
                raw, etag = await self.sidecar.get_state_etag(self.store, bucket.key)
                count = int(msgspec.json.decode(raw)) if raw else 0
                pending = bucket.pending
                if pending == 0:
                    bucket.shared = count
                    return
                if await self.sidecar.try_save_state(
                        self.store, bucket.key, count + pending, etag=etag,
                        ttl_seconds=bucket.window + 5):
                    bucket.shared = count + pending
                    bucket.pending -= pending
                    return
        except (DomainError, ValueError, msgspec.DecodeError) as exc:
            SYNC_ERRORS.inc()
            log.warning("rate_limit_sync_failed", error=type(exc).__name__)
        finally:
            bucket.last_sync = time.monotonic()
            bucket.syncing = False

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + 5
        for key in [k for k, b in self._buckets.items() if b.expires <= now]:
            del self._buckets[key]

    async def aclose(self) -> None:
        """Flush what is still pending (best effort) and wait for running merges."""
        for task in list(self._tasks):
            task.cancel()  # a sleeping merge: flushed below
            with contextlib.suppress(BaseException):
                await task
        now = time.time()
        for bucket in list(self._buckets.values()):
            if bucket.pending and bucket.expires > now and not bucket.syncing:
                await self._merge(bucket)
