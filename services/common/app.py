"""The one place that wires a service: lifespan (sidecar, database, migrations), health,
errors as problem+json, the sidecar-only guard, logging and metrics."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from litestar.types import Receive, Scope, Send

from services.common import audit, db, openapi, telemetry
from services.common import logging as app_logging
from services.common.dapr import Sidecar
from services.common.errors import EXCEPTION_HANDLERS, problem
from services.common.names import HEADER_DAPR_API_TOKEN, SECRETSTORE
from services.common.outbox import Drainer, Outbox
from services.common.settings import Settings

log = structlog.get_logger(__name__)

Hook = Callable[[Litestar], Awaitable[None]]
_Service = TypeVar("_Service")
# Paths a probe or a scraper reaches without going through the sidecar.
OPEN_PATHS = ("/health", "/metrics", "/schema")


class MetricsController(PrometheusController):
    path = "/metrics"


class SidecarOnlyGuard:
    """Refuse any call that did not come from this app's own daprd (APP_API_TOKEN).

    It wraps the whole ASGI handler, before routing, so an unknown path gets the same 401
    as a known one and a caller without the token learns nothing about the routes.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar hands the lifespan to its router itself; only requests come here.
        if not _is_open(scope["path"]):
            sent = dict(scope["headers"]).get(HEADER_DAPR_API_TOKEN.encode(), b"")
            if not hmac.compare_digest(sent, self.token):
                resp = problem(401, "Unauthorized", "Calls must come through the Dapr sidecar")
                await resp.to_asgi_response(app=None, request=Request(scope))(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_open(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in OPEN_PATHS)


def provide_sidecar(state: State) -> Sidecar:
    sidecar: Sidecar = state.sidecar
    return sidecar


def provide_db(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.db
    return pool


def provide_service(service_type: type[_Service]) -> Provide:
    """The dependency `service`: the app's one service object, built by a start-up hook as
    `app.state.service` (an OrdersService, a ProductsService, ...)."""
    def provide(state: State) -> _Service:
        service: _Service = state.service
        return service

    provide.__name__ = f"provide_{service_type.__name__}"
    return Provide(provide, sync_to_thread=False)


async def _ready(state: State) -> tuple[bool, dict[str, str]]:
    checks: dict[str, str] = {}
    sidecar: Sidecar = state.sidecar
    checks["dapr"] = "ok" if await sidecar.healthy() else "down"
    pool: asyncpg.Pool | None = state.get("db")
    if pool is not None:
        try:
            await pool.fetchval("SELECT 1", timeout=2)
            checks["database"] = "ok"
        except (OSError, asyncpg.PostgresError, TimeoutError):
            checks["database"] = "down"
    return all(v == "ok" for v in checks.values()), checks


def build_app(
    settings: Settings,
    *,
    route_handlers: Sequence[Any],
    migrations: Path | None = None,
    shared_migrations: Sequence[Path] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    dependencies: dict[str, Provide] | None = None,
    guarded: bool = True,
    start_traces: bool = False,
    title: str | None = None,
    description: str = "",
    liveness_path: str = "/health",
    outbox: Outbox | None = None,
    exception_handlers: dict[Any, Any] | None = None,
    template_config: Any = None,
) -> Litestar:
    """Create the Litestar app of one service.

    `migrations` names the folder of SQL files (after `shared_migrations`, schema several
    services have, such as `audit.MIGRATION`); with it, the lifespan reads the DSN
    `<app_id>-db-dsn` from the secret store through the sidecar, opens a pool and migrates.
    With `outbox`, the lifespan runs its Drainer (app.state.outbox_drainer) after the start
    hooks and stops it before the stop hooks. `exception_handlers` override the problem+json
    ones (the web app answers with pages); `template_config` is Litestar's.
    `guarded` refuses calls that did not come through this app's sidecar (SidecarOnlyGuard);
    `start_traces` starts a trace for a request that carries none (an app clients reach
    directly); `liveness_path` moves the liveness probe off `/health`.
    """
    app_logging.configure(settings.app_id, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        sidecar = Sidecar(settings.dapr_http_url, settings.dapr_api_token)
        app.state.sidecar = sidecar
        app.state.settings = settings
        try:
            await sidecar.wait_ready()
            if migrations is not None:
                dsn = await sidecar.get_secret(SECRETSTORE, db.dsn_secret(settings.app_id))
                app.state.db = await db.create_pool(dsn)
                telemetry.register_pool_metrics(settings.app_id, lambda: app.state.get("db"))
                await db.migrate(app.state.db, migrations, shared_migrations)
            for hook in on_startup:
                await hook(app)
            if outbox is not None:
                app.state.outbox_drainer = Drainer(outbox, app.state.db, sidecar)
                app.state.outbox_drainer.start()
            log.info("service_started", port=settings.port)
            yield
        finally:
            if app.state.get("outbox_drainer") is not None:
                await app.state.outbox_drainer.stop()
            for hook in on_shutdown:
                try:
                    await hook(app)
                except Exception:
                    log.exception("shutdown_hook_failed")
            if app.state.get("db") is not None:
                await app.state.db.close()
            await sidecar.aclose()

    @get(liveness_path, include_in_schema=False, sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "service": settings.app_id}

    @get("/health/ready", include_in_schema=False)
    async def ready(state: State) -> Response[dict[str, Any]]:
        ok, checks = await _ready(state)
        body = {"status": "ok" if ok else "unavailable", "service": settings.app_id,
                "checks": checks}
        return Response(body, status_code=200 if ok else 503)

    prometheus = PrometheusConfig(app_name=settings.app_id, prefix="ecommerce",
                                  group_path=True, exclude=list(OPEN_PATHS))

    # Outermost: every log line of the request (metrics, errors, handlers) carries the ids.
    from litestar.middleware import DefineMiddleware as _Define

    context = _Define(telemetry.RequestContextMiddleware,
                      start_traces=start_traces)
    app = Litestar(
        route_handlers=[health, ready, MetricsController, *route_handlers],
        lifespan=[lifespan],
        dependencies={"sidecar": Provide(provide_sidecar, sync_to_thread=False),
                      "db": Provide(provide_db, sync_to_thread=False), **(dependencies or {})},
        exception_handlers={**EXCEPTION_HANDLERS, **(exception_handlers or {})},
        template_config=template_config,
        middleware=[context, prometheus.middleware, audit.ActorMiddleware],
        openapi_config=OpenAPIConfig(title=title or f"{settings.app_id} service",
                                     version="0.1.0", description=description,
                                     path="/schema", components=openapi.openapi_components()),
        plugins=telemetry.otel_plugins(settings.app_id),
        logging_config=None,
        debug=False,
    )
    openapi.document_errors_and_security(app)
    _bind_options_handlers(app)
    if guarded:
        app.asgi_handler = SidecarOnlyGuard(app.asgi_handler, settings.app_api_token)
    return app


def _bind_options_handlers(app: Litestar) -> None:
    """Point each automatic OPTIONS handler at its own route, so `Allow` lists every method.

    Litestar (2.25) rebuilds a route when a second handler group registers the same path
    (`GET /api/users/profile` and `PATCH` from two functions) but keeps the first route's
    OPTIONS handler, whose `Allow` is read from that first route: `GET, OPTIONS` only.
    """
    from litestar.routes import HTTPRoute

    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = handler.fn
            code = getattr(fn, "__code__", None)
            if (getattr(fn, "__name__", "") == "options_handler" and code is not None
                    and code.co_freevars == ("self",) and fn.__closure__):
                fn.__closure__[0].cell_contents = route
