"""One pooled, long-lived client for the app's own Dapr sidecar (its HTTP API).

Service invocation, state, pub/sub, secrets and bindings all go through the sidecar; the
address comes from DAPR_HTTP_PORT and the API token from DAPR_API_TOKEN. The two other ways
the code reaches Dapr, and why, are in docs/architecture.md ("Reaching Dapr").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from multidict import CIMultiDictProxy
from yarl import URL

from services.common import telemetry
from services.common.errors import Unavailable, UpstreamError

_JSON = {"content-type": "application/json"}
# What a broken or refused connection to the sidecar raises.
_TRANSPORT = (aiohttp.ClientError, OSError)


@dataclass(frozen=True, slots=True)
class SidecarResponse:
    """A complete answer of daprd (or, for invocation, of the app behind it)."""

    status_code: int
    content: bytes
    headers: CIMultiDictProxy[str]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Sidecar:
    """Async client of one daprd's HTTP API, on one pooled aiohttp session.

    aiohttp rather than httpx: it costs less CPU per call (bench/README.md, the gateway's
    hop), and every service talks to its sidecar on its hot paths (the checkout's
    activities, publishing, the caches). The session is created on
    first use, inside the event loop that uses it. A connection that cannot be made or
    breaks raises Unavailable; a timeout of an invocation raises UpstreamError.
    """

    def __init__(self, base_url: str, api_token: str | None = None, *, timeout: float = 10.0,
                 max_connections: int = 200) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"dapr-api-token": api_token} if api_token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=2.0)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections,
                                               keepalive_timeout=60),
                timeout=self._timeout, headers=self._headers, auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      content: bytes | None = None, headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> SidecarResponse:
        """One call to the sidecar's API; `path` is already percent-encoded."""
        kw: dict[str, Any] = {}
        if timeout:
            kw["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=2.0)
        async with self.session.request(method, URL(self.base_url + path, encoded=True),
                                        params=params, data=content, headers=headers,
                                        **kw) as r:
            return SidecarResponse(r.status, await r.read(), r.headers)

    async def _call(self, method: str, path: str, what: str, **kw: Any) -> SidecarResponse:
        try:
            return await self.request(method, path, **kw)
        except (*_TRANSPORT, TimeoutError) as exc:
            raise Unavailable(f"Dapr sidecar unreachable ({what}): {type(exc).__name__}") from exc

    # -- health -----------------------------------------------------------------------------
    async def healthy(self) -> bool:
        try:
            r = await self.request("GET", "/v1.0/healthz", timeout=2.0)
        except (*_TRANSPORT, TimeoutError):
            return False
        return r.status_code < 300

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the sidecar has loaded its components and can serve the app."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = await self.request("GET", "/v1.0/healthz/outbound", timeout=2.0)
                if r.status_code < 300:
                    return
            except (*_TRANSPORT, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        raise Unavailable(f"Dapr sidecar at {self.base_url} not ready after {timeout:.0f}s")

    # -- service invocation -----------------------------------------------------------------
    async def invoke(self, app_id: str, method: str, path: str, *,
                     params: Mapping[str, str] | None = None,
                     json: Any = None, content: bytes | None = None,
                     headers: Mapping[str, str] | None = None,
                     timeout: float | None = None) -> SidecarResponse:
        """Call `path` on `app_id` through Dapr; returns the app's response as is."""
        url = f"/v1.0/invoke/{app_id}/method/{path.lstrip('/')}"
        hdrs = dict(headers or {})
        for name, value in telemetry.outgoing_headers().items():  # continue the caller's trace
            hdrs.setdefault(name, value)
        if json is not None:
            content = msgspec.json.encode(json)
            hdrs.setdefault("content-type", "application/json")
        try:
            return await self.request(method, url, params=params, content=content,
                                      headers=hdrs, timeout=timeout)
        except TimeoutError as exc:
            raise UpstreamError(f"{app_id} did not answer in time") from exc
        except _TRANSPORT as exc:
            raise Unavailable(f"{app_id} is unreachable through Dapr") from exc

    async def invoke_json(self, app_id: str, method: str, path: str, **kw: Any) -> Any:
        """Invoke and decode a JSON answer, raising UpstreamError on a non-2xx."""
        r = await self.invoke(app_id, method, path, **kw)
        if r.status_code >= 300:
            raise UpstreamError(f"{app_id} answered {r.status_code} to {method} {path}: "
                                f"{r.text[:200]}")
        return msgspec.json.decode(r.content) if r.content else None

    # -- state --------------------------------------------------------------------------------
    async def get_state_etag(self, store: str, key: str) -> tuple[bytes | None, str | None]:
        """The value and its etag (both None when the key is absent)."""
        r = await self._call("GET", f"/v1.0/state/{store}/{quote(key, safe='')}", "get state")
        if r.status_code == 204 or not r.content:
            return None, None
        self._check(r, "get state")
        return r.content, r.headers.get("etag")

    async def try_save_state(self, store: str, key: str, value: Any, *, etag: str | None,
                             ttl_seconds: int | None = None) -> bool:
        """First-write save: with `etag` only if unchanged since read, without one only if the
        key is new. False when another writer won (the caller re-reads and retries)."""
        item: dict[str, Any] = {"key": key, "value": value,
                                "options": {"concurrency": "first-write"}}
        if etag:
            item["etag"] = etag
        if ttl_seconds:
            item["metadata"] = {"ttlInSeconds": str(ttl_seconds)}
        r = await self._call("POST", f"/v1.0/state/{store}", "save state",
                             content=msgspec.json.encode([item]), headers=_JSON)
        if r.status_code < 300:
            return True
        if r.status_code == 409 or b"failed to set key" in r.content:
            return False
        self._check(r, "save state")
        return False

    async def delete_state(self, store: str, key: str) -> None:
        r = await self._call("DELETE", f"/v1.0/state/{store}/{quote(key, safe='')}",
                             "delete state")
        self._check(r, "delete state")

    # -- pub/sub ------------------------------------------------------------------------------
    async def publish(self, pubsub: str, topic: str, data: Any, *,
                      metadata: Mapping[str, str] | None = None) -> None:
        params = {f"metadata.{k}": v for k, v in (metadata or {}).items()}
        r = await self._call("POST", f"/v1.0/publish/{pubsub}/{topic}", f"publish to {topic}",
                             params=params, content=msgspec.json.encode(data),
                             headers={**_JSON, **telemetry.outgoing_headers()})
        self._check(r, f"publish to {topic}")

    # -- secrets ------------------------------------------------------------------------------
    async def get_secret(self, store: str, key: str) -> str:
        r = await self._call("GET", f"/v1.0/secrets/{store}/{quote(key, safe='')}",
                             f"read secret {key!r}")
        self._check(r, f"read secret {key!r}")
        values: dict[str, str] = msgspec.json.decode(r.content)
        if key not in values:
            raise Unavailable(f"secret {key!r} missing from {store}")
        return values[key]

    # -- bindings -----------------------------------------------------------------------------
    async def invoke_binding(self, name: str, operation: str, data: Any,
                             metadata: Mapping[str, str] | None = None) -> SidecarResponse:
        body = {"data": data, "operation": operation, "metadata": dict(metadata or {})}
        r = await self._call("POST", f"/v1.0/bindings/{name}", f"binding {name}",
                             content=msgspec.json.encode(body), headers=_JSON)
        self._check(r, f"binding {name}")
        return r

    @staticmethod
    def _check(r: SidecarResponse, what: str) -> None:
        if r.status_code >= 300:
            raise Unavailable(f"Dapr could not {what}: {r.status_code} {r.text[:300]}")
