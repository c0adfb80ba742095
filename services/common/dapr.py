"""One pooled, long-lived client for the app's own Dapr sidecar (its HTTP API).

Service invocation, state, pub/sub, secrets and bindings all go through the sidecar; the
address comes from DAPR_HTTP_PORT and the API token from DAPR_API_TOKEN. Workflows use the
Dapr SDK's workflow client (services/orders/workflow.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from services.common import telemetry
from services.common.errors import Unavailable, UpstreamError

_JSON = {"content-type": "application/json"}


class Sidecar:
    """Async client of one daprd's HTTP API."""

    def __init__(self, base_url: str, api_token: str | None = None, *, timeout: float = 10.0,
                 max_connections: int = 200) -> None:
        headers = {"dapr-api-token": api_token} if api_token else {}
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- health -----------------------------------------------------------------------------
    async def healthy(self) -> bool:
        try:
            r = await self.http.get("/v1.0/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return r.status_code < 300

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the sidecar has loaded its components and can serve the app."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = await self.http.get("/v1.0/healthz/outbound", timeout=2.0)
                if r.status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise Unavailable(f"Dapr sidecar at {self.http.base_url} not ready after {timeout:.0f}s")

    # -- service invocation -----------------------------------------------------------------
    async def invoke(self, app_id: str, method: str, path: str, *,
                     params: Mapping[str, str] | None = None,
                     json: Any = None, content: bytes | None = None,
                     headers: Mapping[str, str] | None = None,
                     timeout: float | None = None) -> httpx.Response:
        """Call `path` on `app_id` through Dapr; returns the app's response as is."""
        url = f"/v1.0/invoke/{app_id}/method/{path.lstrip('/')}"
        hdrs = dict(headers or {})
        for name, value in telemetry.outgoing_headers().items():  # continue the caller's trace
            hdrs.setdefault(name, value)
        if json is not None:
            content = msgspec.json.encode(json)
            hdrs.setdefault("content-type", "application/json")
        try:
            return await self.http.request(method, url, params=params, content=content,
                                           headers=hdrs,
                                           timeout=timeout if timeout else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"{app_id} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"{app_id} is unreachable through Dapr") from exc

    async def invoke_json(self, app_id: str, method: str, path: str, **kw: Any) -> Any:
        """Invoke and decode a JSON answer, raising UpstreamError on a non-2xx."""
        r = await self.invoke(app_id, method, path, **kw)
        if r.status_code >= 300:
            raise UpstreamError(f"{app_id} answered {r.status_code} to {method} {path}: "
                                f"{r.text[:200]}")
        return msgspec.json.decode(r.content) if r.content else None

    # -- state --------------------------------------------------------------------------------
    async def get_state(self, store: str, key: str) -> bytes | None:
        r = await self.http.get(f"/v1.0/state/{store}/{quote(key, safe='')}")
        if r.status_code == 204 or not r.content:
            return None
        self._check(r, "get state")
        return r.content

    async def save_state(self, store: str, key: str, value: Any, *,
                         ttl_seconds: int | None = None, etag: str | None = None) -> None:
        item: dict[str, Any] = {"key": key, "value": value}
        if ttl_seconds:
            item["metadata"] = {"ttlInSeconds": str(ttl_seconds)}
        if etag is not None:
            item["etag"] = etag
            item["options"] = {"concurrency": "first-write"}
        r = await self.http.post(f"/v1.0/state/{store}", content=msgspec.json.encode([item]),
                                 headers=_JSON)
        self._check(r, "save state")

    async def get_state_etag(self, store: str, key: str) -> tuple[bytes | None, str | None]:
        """The value and its etag (both None when the key is absent)."""
        r = await self.http.get(f"/v1.0/state/{store}/{quote(key, safe='')}")
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
        r = await self.http.post(f"/v1.0/state/{store}", content=msgspec.json.encode([item]),
                                 headers=_JSON)
        if r.status_code < 300:
            return True
        if r.status_code == 409 or b"failed to set key" in r.content:
            return False
        self._check(r, "save state")
        return False

    async def delete_state(self, store: str, key: str) -> None:
        r = await self.http.delete(f"/v1.0/state/{store}/{quote(key, safe='')}")
        self._check(r, "delete state")

    # -- pub/sub ------------------------------------------------------------------------------
    async def publish(self, pubsub: str, topic: str, data: Any, *,
                      metadata: Mapping[str, str] | None = None) -> None:
        params = {f"metadata.{k}": v for k, v in (metadata or {}).items()}
        r = await self.http.post(f"/v1.0/publish/{pubsub}/{topic}", params=params,
                                 content=msgspec.json.encode(data),
                                 headers={**_JSON, **telemetry.outgoing_headers()})
        self._check(r, f"publish to {topic}")

    # -- secrets ------------------------------------------------------------------------------
    async def get_secret(self, store: str, key: str) -> str:
        r = await self.http.get(f"/v1.0/secrets/{store}/{quote(key, safe='')}")
        self._check(r, f"read secret {key!r}")
        values: dict[str, str] = msgspec.json.decode(r.content)
        if key not in values:
            raise Unavailable(f"secret {key!r} missing from {store}")
        return values[key]

    # -- bindings -----------------------------------------------------------------------------
    async def invoke_binding(self, name: str, operation: str, data: Any,
                             metadata: Mapping[str, str] | None = None) -> httpx.Response:
        body = {"data": data, "operation": operation, "metadata": dict(metadata or {})}
        r = await self.http.post(f"/v1.0/bindings/{name}", content=msgspec.json.encode(body),
                                 headers=_JSON)
        self._check(r, f"binding {name}")
        return r

    @staticmethod
    def _check(r: httpx.Response, what: str) -> None:
        if r.status_code >= 300:
            raise Unavailable(f"Dapr could not {what}: {r.status_code} {r.text[:300]}")
