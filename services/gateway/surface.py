"""What the public port shows, and what it does not.

Public: `/`, the web app's pages, `/health`, `/docs`, `/openapi.json` and `/api/*`.
The gateway's Prometheus metrics and its own internal OpenAPI document (`/schema`) are not
on that port: they are served on GATEWAY_INTERNAL_PORT (default 9080, bound to the app's
host like every app port, never published by compose or a Service), for Prometheus and
operators. On the public port those paths answer 404 like any unknown path.

CORS is off unless GATEWAY_CORS_ORIGINS lists origins (`https://shop.example, ...`): a
request from a listed origin gets `Access-Control-Allow-Origin: <that origin>` with
credentials allowed, and its preflight is answered here; any other origin gets no CORS
header at all (its preflight a 403), so a browser on another site cannot read answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

import msgspec
from aiohttp import web as aioweb
from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.settings import ConfigError
from services.gateway import settings as gateway_settings
from services.gateway.settings import GatewaySettings

INTERNAL_ONLY = ("/metrics", "/schema")
CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
CORS_HEADERS = b"authorization, content-type, idempotency-key, x-basket-token, x-request-id"
CORS_MAX_AGE = b"600"


class SurfaceSettings(msgspec.Struct, frozen=True):
    internal_port: int
    cors_origins: frozenset[str]


def from_settings(conf: GatewaySettings) -> SurfaceSettings:
    """The public surface's settings; a malformed GATEWAY_CORS_ORIGINS stops start-up."""
    origins = set()
    for item in (o.strip().rstrip("/") for o in conf.gateway_cors_origins.split(",")):
        if not item:
            continue
        if item == "*" or not item.startswith(("http://", "https://")):
            raise ConfigError("GATEWAY_CORS_ORIGINS lists origins such as https://shop.example "
                              f"(no '*'), got {item!r}")
        origins.add(item.lower())
    return SurfaceSettings(internal_port=conf.gateway_internal_port,
                           cors_origins=frozenset(origins))


def load(env: Mapping[str, str]) -> SurfaceSettings:
    """The surface's settings straight from the environment."""
    return from_settings(gateway_settings.load(env))


def _internal(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in INTERNAL_ONLY)


async def _send_plain(send: Send, status: int, body: bytes,
                      headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        *headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


_NOT_FOUND = json.dumps({"type": "about:blank", "title": "Not found", "status": 404,
                         "detail": "No such route"}).encode()
_FORBIDDEN_ORIGIN = json.dumps({"type": "about:blank", "title": "Forbidden", "status": 403,
                                "detail": "Cross-origin requests from this origin are not "
                                          "allowed"}).encode()
_PROBLEM = (b"content-type", b"application/problem+json")


class PublicSurface:
    """ASGI wrapper in front of the gateway's public port: hides the internal paths and
    applies the CORS allowlist."""

    def __init__(self, app: ASGIApp, settings: SurfaceSettings) -> None:
        self.app = app
        self.origins = settings.cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        if _internal(scope["path"]):
            await _send_plain(send, 404, _NOT_FOUND, [_PROBLEM])
            return
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin.decode("latin-1").rstrip("/").lower() in self.origins
        method = scope["method"]  # type: ignore[typeddict-item]
        preflight = method == "OPTIONS" and any(
            k == b"access-control-request-method" for k, _ in scope["headers"])
        if preflight:
            if not allowed:
                await _send_plain(send, 403, _FORBIDDEN_ORIGIN, [_PROBLEM])
                return
            await _send_plain(send, 204, b"", [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-allow-methods", CORS_METHODS),
                (b"access-control-allow-headers", CORS_HEADERS),
                (b"access-control-max-age", CORS_MAX_AGE), (b"vary", b"Origin")])
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if not h[0].lower().startswith(b"access-control-")]
                headers += [(b"access-control-allow-origin", origin),
                            (b"access-control-allow-credentials", b"true"),
                            (b"access-control-expose-headers",
                             b"retry-after, x-request-id, x-total-count, location, etag"),
                            (b"vary", b"Origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


class InternalServer:
    """`/metrics` and `/schema` of the gateway on its internal port (aiohttp, one runner)."""

    def __init__(self, app: Litestar, host: str, port: int) -> None:
        self.litestar = app
        self.host = host
        self.port = port
        self._runner: aioweb.AppRunner | None = None

    async def _metrics(self, _: aioweb.Request) -> aioweb.Response:
        resp = aioweb.Response(body=generate_latest())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def _schema(self, _: aioweb.Request) -> aioweb.Response:
        return aioweb.json_response(self.litestar.openapi_schema.to_schema())

    async def start(self) -> None:
        app = aioweb.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/schema", self._schema)
        app.router.add_get("/schema/openapi.json", self._schema)
        self._runner = aioweb.AppRunner(app, access_log=None)
        await self._runner.setup()
        await aioweb.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
