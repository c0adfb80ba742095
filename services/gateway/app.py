"""The API gateway: the one public entry. Routes `/api/<service>/...` through Dapr."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, asgi, get
from litestar.datastructures import State
from litestar.response import Response
from litestar.types import Receive, Scope, Send

from services.common.app import build_app
from services.common.dapr import Sidecar
from services.common.names import BACKEND_APPS
from services.common.settings import Settings
from services.gateway.auth import Authenticator
from services.gateway.proxy import Proxy

API_INFO = {
    "name": "ecommerce-dapr",
    "version": "0.1.0",
    "services": {app: f"/api/{app}" for app in BACKEND_APPS},
    "health": "/health",
    "docs": "/docs",
}


async def aggregated_health(sidecar: Sidecar) -> tuple[bool, dict[str, str]]:
    async def check(app_id: str) -> tuple[str, str]:
        try:
            r = await sidecar.invoke(app_id, "GET", "health/ready", timeout=3.0)
        except Exception:  # any failure to reach it means "down"
            return app_id, "down"
        return app_id, "ok" if r.status_code == 200 else "down"

    results = dict(await asyncio.gather(*(check(a) for a in BACKEND_APPS)))
    return all(v == "ok" for v in results.values()), results


def create_app(settings: Settings) -> Litestar:
    def sidecar_of(scope: Scope) -> Sidecar:
        sidecar: Sidecar = scope["app"].state.sidecar
        return sidecar

    def authenticator_of(scope: Scope) -> Authenticator:
        authenticator: Authenticator = scope["app"].state.authenticator
        return authenticator

    proxy = Proxy(sidecar_of, authenticator_of)

    @asgi("/api", is_mount=True, copy_scope=False)
    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        await proxy(scope, receive, send)

    @get("/", sync_to_thread=False)
    def index() -> dict[str, Any]:
        """API information."""
        return API_INFO

    @get("/health")
    async def health(state: State) -> Response[dict[str, Any]]:
        """Readiness of every service behind the gateway; 503 names the ones that are down."""
        ok, services = await aggregated_health(state.sidecar)
        down = sorted(k for k, v in services.items() if v != "ok")
        body: dict[str, Any] = {"status": "ok" if ok else "degraded", "services": services}
        if down:
            body["down"] = down
        return Response(body, status_code=200 if ok else 503)

    async def start(app: Litestar) -> None:
        app.state.authenticator = Authenticator(app.state.sidecar)

    return build_app(settings, route_handlers=[api, index, health], guarded=False,
                     liveness_path="/health/live",
                     on_startup=[start], title="ecommerce API gateway")
