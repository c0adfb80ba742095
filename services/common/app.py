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
from litestar.openapi.spec import OpenAPIType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from litestar.types import Receive, Scope, Send

from services.common import audit, db, telemetry, text
from services.common import logging as app_logging
from services.common.auth import provide_admin, provide_identity
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
                                     path="/schema", components=openapi_components()),
        plugins=telemetry.otel_plugins(settings.app_id),
        logging_config=None,
        debug=False,
    )
    _document_errors_and_security(app)
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


# --------------------------------------------------------------------------------------------
# OpenAPI: the bearer scheme and the problem+json errors every route can answer
# --------------------------------------------------------------------------------------------
BEARER_SCHEME = "BearerAuth"
PROBLEM_SCHEMA = "Problem"


def openapi_components() -> Any:
    from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme

    text = Schema(type=OpenAPIType.STRING)
    problem_schema = Schema(
        type=OpenAPIType.OBJECT,
        description="RFC 9457 problem details (application/problem+json)",
        required=["title", "status", "detail"],
        properties={
            "type": text, "title": text, "detail": text, "instance": text,
            "status": Schema(type=OpenAPIType.INTEGER),
            "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(
                type=OpenAPIType.OBJECT, properties={"field": text, "message": text})),
        },
        examples=[{"type": "about:blank", "title": "Not found", "status": 404,
                   "detail": "No product with that id"}],
    )
    return Components(
        schemas={PROBLEM_SCHEMA: problem_schema},
        security_schemes={BEARER_SCHEME: SecurityScheme(
            type="http", scheme="bearer", bearer_format="JWT",
            description="Access token from POST /api/users/login or /api/users/register")},
    )


def _problem_response(description: str) -> Any:
    from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference

    return OpenAPIResponse(description=description, content={
        "application/problem+json": OpenAPIMediaType(
            schema=Reference(ref=f"#/components/schemas/{PROBLEM_SCHEMA}"))})


def link(method: str, path: str, description: str, *, body: Any = None,
         **parameters: str) -> Any:
    """An OpenAPI link to the public operation `method path` (an `operationRef` into the
    gateway's merged document, which keeps the public paths; operation ids are renamed
    there), filling its parameters (and body) from this answer."""
    from litestar.openapi.spec import Link

    pointer = path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
    return Link(operation_ref=f"#/paths/{pointer}/{method.lower()}", description=description,
                parameters=parameters or None, request_body=body)


def _raw_body(media_types: Sequence[str], max_bytes: int | None) -> Any:
    from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema

    binary = Schema(type=OpenAPIType.STRING, format="binary",  # type: ignore[arg-type]
                    max_length=max_bytes)
    return RequestBody(required=True, content={
        media: OpenAPIMediaType(schema=binary) for media in media_types})


def _providers_used(handler: Any) -> set[Any]:
    """The dependency callables a handler uses, directly or through other dependencies."""
    deps = handler.resolve_dependencies()
    todo = list(handler.parsed_fn_signature.parameters)
    seen: set[str] = set()
    used: set[Any] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in deps:
            continue
        seen.add(name)
        provider = deps[name]
        used.add(provider.dependency)
        signature = getattr(provider, "parsed_fn_signature", None)
        todo.extend(signature.parameters if signature is not None else ())
    return used


def _document_errors_and_security(app: Litestar) -> None:
    """Mark routes that need a token with the bearer scheme (and 401/403), and document the
    problem+json answers of every route, in the app's generated OpenAPI document."""
    from litestar.routes import HTTPRoute

    try:
        schema = app.openapi_schema
    except Exception:  # a schema that cannot be generated must not stop the service
        log.exception("openapi_generation_failed")
        return
    paths = schema.paths or {}
    structs: dict[str, Any] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        item = paths[route.path_format]
        for method, handler in ((m, h) for h in route.route_handlers for m in h.http_methods):
            op = getattr(item, method.lower(), None)
            if op is None:
                continue
            providers = _providers_used(handler)
            responses = op.responses if op.responses is not None else {}
            # Litestar documents a generic 400 body; ours is problem+json for every 4xx.
            responses["400"] = _problem_response("Bad request (problem details)")
            responses.setdefault("404", _problem_response("Not found"))
            responses.setdefault("422", _problem_response("Invalid input, with field errors"))
            # A handler whose answer names other operations' input says so:
            # `@post(..., links={"GetProduct": link("GET", "/api/products/{product_id}",
            # product_id="$response.body#/id")})` (OpenAPI links, for clients and for the
            # stateful schema test).
            if links := handler.opt.get("links"):
                success = responses.get(str(handler.status_code))
                if success is not None:
                    success.links = links
            # A handler that reads its body itself names the media types it takes:
            # `@put(..., raw_body=("image/png", ...), raw_body_max=<bytes>)`.
            if media_types := handler.opt.get("raw_body"):
                op.request_body = _raw_body(media_types, handler.opt.get("raw_body_max"))
            if op.request_body is not None:
                responses.setdefault("415", _problem_response(
                    "Unsupported media type (the body must be application/json)"))
            if providers & {provide_identity, provide_admin}:
                op.security = [{BEARER_SCHEME: []}]
                responses.setdefault("401", _problem_response("Missing or invalid token"))
            if provide_admin in providers:
                responses.setdefault("403", _problem_response("The admin role is required"))
            # A handler that can answer 409 says when: `@post(..., conflict="<when>")`.
            if conflict := handler.opt.get("conflict"):
                responses.setdefault("409", _problem_response(conflict))
            op.responses = responses
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                structs.update(_input_structs(data.annotation))
            for param in op.parameters or ():
                if param.param_in != "query":  # Litestar reads ?x=null as None
                    _drop_null(param.schema)
    _complete_inputs(schema, structs)


def _input_structs(annotation: Any) -> dict[str, Any]:
    """The msgspec Structs of a request body type (the body and every Struct in it), by
    class name (Litestar's component title)."""
    import msgspec.inspect as mi

    found: dict[str, mi.StructType] = {}
    todo: list[mi.Type] = [mi.type_info(annotation)]
    while todo:
        info = todo.pop()
        if isinstance(info, mi.StructType):
            if info.cls.__name__ in found:
                continue
            found[info.cls.__name__] = info
            todo.extend(f.type for f in info.fields)
        elif isinstance(info, mi.UnionType):
            todo.extend(info.types)
        elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            todo.append(info.item_type)
        elif isinstance(info, mi.DictType):
            todo.append(info.value_type)
        elif isinstance(info, mi.Metadata):
            todo.append(info.type)
    return found


NO_NUL = text.NO_NUL
_BOUNDS = (("ge", "minimum"), ("gt", "exclusive_minimum"), ("le", "maximum"),
           ("lt", "exclusive_maximum"))


def _complete_inputs(schema: Any, structs: dict[str, Any]) -> None:
    """Say what the decoder does, where Litestar's generated schema (2.25) does not:

    - a Struct that refuses unknown fields is `additionalProperties: false` (Litestar leaves
      every object open);
    - a bound of 0 (`Meta(ge=0)`) is written (Litestar skips falsy bounds);
    - a union of `int` and `float` is a number (Litestar writes `oneOf: [integer, number]`,
      which no integer satisfies, since an integer is both);
    - text holds no NUL character (`NO_NUL`: PostgreSQL text cannot store one, so every
      service answers 422, services.common.errors.unstorable_value_handler), unless the
      field's Meta says more itself (a description or its own schema: a password, which is
      hashed, may hold any character);
    - a Struct's `__schema_extra__` (JSON Schema keywords no type can carry, such as
      `min_properties` of a partial update) is applied.
    """
    import msgspec.inspect as mi

    components = (schema.components.schemas if schema.components else None) or {}
    for component in components.values():
        info = structs.get(component.title)
        if info is not None:
            if info.forbid_unknown_fields:
                component.additional_properties = False
            for key, value in getattr(info.cls, "__schema_extra__", {}).items():
                setattr(component, key, value)
            props = component.properties or {}
            for field in info.fields:
                prop = props.get(field.encode_name)
                kinds = field.type.types if isinstance(field.type, mi.UnionType) else (
                    field.type,)
                for kind in kinds:
                    if prop is None:
                        continue
                    if (isinstance(kind, mi.StrType) and kind.pattern is None
                            and getattr(prop, "pattern", None) is None and not prop.format):
                        prop.pattern = NO_NUL
                    if not isinstance(kind, (mi.IntType, mi.FloatType)):
                        continue
                    for bound, key in _BOUNDS:
                        if getattr(kind, bound) == 0 and getattr(prop, key, None) is None:
                            setattr(prop, key, 0)
        for prop in (component.properties or {}).values():
            branches: list[Any] = list(getattr(prop, "one_of", None) or ())
            types = [getattr(b, "type", None) for b in branches]
            if OpenAPIType.INTEGER in types and OpenAPIType.NUMBER in types:
                prop.one_of = [b for b in branches
                               if getattr(b, "type", None) != OpenAPIType.INTEGER]


def _drop_null(schema: Any) -> None:
    """A path or header value is text: it cannot be JSON null, whatever Optional Litestar
    saw in the signature (`str | None` becomes `oneOf: [string, null]`). (A query value can:
    Litestar reads `?x=null` as None.)"""
    branches = getattr(schema, "one_of", None)
    if branches:
        kept = [b for b in branches if getattr(b, "type", None) != OpenAPIType.NULL]
        if len(kept) == 1 and len(kept) < len(branches):
            schema.one_of = None
            for key, value in vars(kept[0]).items() if hasattr(kept[0], "__dict__") else ():
                if value is not None and getattr(schema, key, None) is None:
                    setattr(schema, key, value)
    kind = getattr(schema, "type", None)
    if isinstance(kind, list) and OpenAPIType.NULL in kind:
        rest = [k for k in kind if k != OpenAPIType.NULL]
        schema.type = rest[0] if len(rest) == 1 else rest
        if schema.enum:
            schema.enum = [v for v in schema.enum if v is not None]

