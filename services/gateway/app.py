"""The API gateway: the one public entry. Routes `/api/<service>/...` through Dapr."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Litestar, MediaType, asgi, get
from litestar.datastructures import State
from litestar.response import Response
from litestar.static_files import create_static_files_router
from litestar.types import Receive, Scope, Send

from services.common.app import build_app
from services.common.dapr import Sidecar
from services.common.names import BACKEND_APPS, WEB
from services.common.revocation import RevocationList
from services.common.settings import Settings
from services.gateway import clientaddr, edgecache, openapi, ratelimit, surface, web
from services.gateway import settings as gateway_settings
from services.gateway.auth import Authenticator
from services.gateway.proxy import Proxy

API_INFO = {
    "name": "ecommerce-dapr",
    "version": "0.1.0",
    "services": {app: f"/api/{app}" for app in BACKEND_APPS},
    "shop": "/",
    "health": "/health",
    "docs": "/docs",
    "openapi": "/openapi.json",
}


async def aggregated_health(sidecar: Sidecar) -> tuple[bool, dict[str, str]]:
    async def check(app_id: str) -> tuple[str, str]:
        try:
            r = await sidecar.invoke(app_id, "GET", "health/ready", timeout=3.0)
        except Exception:  # any failure to reach it means "down"
            return app_id, "down"
        return app_id, "ok" if r.status_code == 200 else "down"

    results = dict(await asyncio.gather(*(check(a) for a in (*BACKEND_APPS, WEB))))
    return all(v == "ok" for v in results.values()), results


class HealthCache:
    """The aggregated health, computed at most once per `ttl` seconds however many ask:
    a flood of public GET /health must not fan out to every service each time."""

    def __init__(self, ttl: float = 1.5) -> None:
        self.ttl = ttl
        self._at = -1e9
        self._value: tuple[bool, dict[str, str]] = (False, {})
        self._lock = asyncio.Lock()

    async def get(self, sidecar: Sidecar) -> tuple[bool, dict[str, str]]:
        loop = asyncio.get_running_loop()
        if loop.time() - self._at < self.ttl:
            return self._value
        async with self._lock:  # one fan-out in flight; the others wait for its answer
            if loop.time() - self._at >= self.ttl:
                self._value = await aggregated_health(sidecar)
                self._at = loop.time()
            return self._value


def create_app(settings: Settings) -> Litestar:
    proxy = Proxy(info=msgspec.json.encode(API_INFO))

    @asgi("/api", is_mount=True, copy_scope=False)
    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        await proxy(scope, receive, send)

    @get("/health")
    async def health(state: State) -> Response[dict[str, Any]]:
        """Readiness of every service behind the gateway; 503 names the ones that are down."""
        ok, services = await state.health_cache.get(state.sidecar)
        down = sorted(k for k, v in services.items() if v != "ok")
        body: dict[str, Any] = {"status": "ok" if ok else "degraded", "services": services}
        if down:
            body["down"] = down
        return Response(body, status_code=200 if ok else 503)

    @get("/openapi.json", media_type=MediaType.JSON, include_in_schema=False)
    async def openapi_json(state: State) -> Response[bytes]:
        """The merged OpenAPI document of the public API."""
        aggregator: openapi.OpenAPIAggregator = state.openapi
        return Response(await aggregator.document(), media_type=MediaType.JSON)

    @get("/docs", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
    def docs() -> str:
        """Swagger UI on /openapi.json."""
        return openapi.SWAGGER_HTML

    @get("/docs/init.js", media_type="text/javascript", include_in_schema=False,
         sync_to_thread=False)
    def docs_init() -> str:
        return openapi.SWAGGER_INIT

    assets = create_static_files_router(
        path="/docs/assets", directories=[openapi.SWAGGER_STATIC], include_in_schema=False,
        cache_control=None)
    conf = gateway_settings.load()  # a malformed variable stops start-up
    limits = ratelimit.from_settings(conf)
    edge = edgecache.from_settings(conf)
    trusted = clientaddr.parse_trusted(conf.forwarded_allow_ips)
    public = surface.from_settings(conf)
    revocation_check = conf.revocation_check_seconds

    async def start(app: Litestar) -> None:
        app.state.health_cache = HealthCache()
        app.state.internal = surface.InternalServer(app, settings.host, public.internal_port)
        await app.state.internal.start()
        app.state.authenticator = Authenticator(
            app.state.sidecar, revocations=RevocationList(app.state.sidecar, revocation_check))
        app.state.ratelimiter = ratelimit.RateLimiter(app.state.sidecar, limits)
        app.state.edgecache = edgecache.EdgeCache(edge)
        app.state.openapi = openapi.OpenAPIAggregator(
            app.state.sidecar, ttl=conf.openapi_ttl_seconds)

    async def stop(app: Litestar) -> None:
        await app.state.ratelimiter.aclose()
        await app.state.internal.stop()

    app = build_app(settings, route_handlers=[api, health, openapi_json, docs, docs_init,
                                              assets], guarded=False,
                    liveness_path="/health/live", start_traces=True,
                    on_startup=[start], on_shutdown=[stop], title="ecommerce API gateway")
    web.mount(app)  # every other path: the storefront
    # Outermost: the client's real address first, then what the public port may show.
    app.asgi_handler = clientaddr.ClientAddress(
        surface.PublicSurface(app.asgi_handler, public), trusted)
    return app
