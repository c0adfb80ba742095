"""Forward `/api/<service>/...` to the service by Dapr service invocation.

A raw ASGI app (mounted by services.gateway.app) so the hot path does no routing,
validation or serialisation of its own: it copies method, path, query, body and the
headers that matter, through one pooled client to the gateway's sidecar.

`/api/<service>/health` is the one mapped path: it reaches the service's liveness
(`/health`), so a probe (and bench/bench_gateway.py) can measure the whole public hop
(gateway, both sidecars, the service) on a route every service has.

An anonymous GET that a service marked reusable may be answered by the gateway's edge cache
after one version check in the `cache` store (services/gateway/edgecache.py); responses say
`x-cache: hit` or `miss` on those routes.

Requests go through the app's one sidecar client (services.common.dapr.Sidecar, an aiohttp
session, the cheaper client on this hop: bench/bench_gateway.py, figures in bench/README.md).
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from urllib.parse import unquote

import aiohttp
import structlog
from litestar import Request
from litestar.types import Receive, Scope, Send
from prometheus_client import Counter, Histogram
from yarl import URL

from services.common import telemetry
from services.common.dapr import Sidecar
from services.common.errors import (
    DomainError,
    GatewayTimeout,
    NotFound,
    Unavailable,
    problem,
)
from services.common.names import (
    BACKEND_APPS,
    HEADER_BASKET_TOKEN,
    HEADER_CACHE_VERSION,
    HEADER_CLIENT_IP,
    HEADER_DAPR_API_TOKEN,
    HEADER_USER_EMAIL,
    WEB,
)
from services.gateway.auth import Authenticator
from services.gateway.edgecache import LOOKUPS as EDGE_LOOKUPS
from services.gateway.edgecache import EdgeCache, wants_bypass
from services.gateway.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

MAX_BODY = 1 << 20  # 1 MiB: no public request needs more.
# daprd reads a request's line and headers into 8 KiB (its default 4 KiB read buffer plus
# Go's 4 KiB allowance) and answers a longer one with a bare 431: the URL gets 6 KiB of it,
# the headers the gateway sends the rest. Every documented query fits (at most 600
# characters, 7 KiB only if each were a 4-byte character, percent-encoded).
MAX_URL = 6 << 10
# Request headers passed on to the service (identity headers are added by the gateway).
FORWARD_REQUEST = frozenset({
    b"content-type", b"accept", b"authorization", b"idempotency-key", b"x-request-id",
    b"traceparent", b"tracestate", b"if-none-match", b"if-match", HEADER_BASKET_TOKEN.encode(),
})  # never x-user-*: identity headers are set by the gateway alone
FORWARD_RESPONSE = frozenset({
    b"content-type", b"retry-after", b"www-authenticate", b"location", b"etag", b"allow",
    b"cache-control", b"x-request-id", b"x-total-count", b"traceparent",
})

# The methods daprd's service invocation passes on as they are; it sends any other as a POST.
DAPR_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
# Routes whose contract requires the client's own Idempotency-Key: the service refuses a
# request without one (400), which a key made up here would hide.
CLIENT_KEYED = frozenset({"/api/basket/checkout"})

# Edge cache (services/gateway/edgecache.py): the marker a service puts on a reusable answer,
# the headers that belong to one response only, and what the client is told.
_CACHE_VERSION = HEADER_CACHE_VERSION.encode()
_PER_REQUEST = frozenset({b"x-request-id", b"traceparent"})
_HIT = (b"x-cache", b"hit")
_MISS = (b"x-cache", b"miss")

REQUESTS = Counter("ecommerce_gateway_requests_total",
                   "Requests forwarded by the gateway, by target service and status",
                   ["service", "method", "status_code"])
LATENCY = Histogram("ecommerce_gateway_upstream_duration_seconds",
                    "Time from forwarding a request to the service's full answer",
                    ["service"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10))


# What daprd refuses in a method name once percent-decoded (its NormalizeMethod), and "%":
# daprd decodes the path once and passes the result to the app as it is, so a decoded "%"
# (sent as %25) either breaks that request (daprd answers 500 after retrying) or, as in
# %2541, is decoded a second time by the app.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f#?%]")
# What aiohttp refuses to send in a header value (it raises: a 500).
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def check_path(path: str) -> None:
    """400 for a path daprd would refuse, or one with dot segments: daprd resolves those
    (`/api/products/%2e%2e/%2e%2e/internal/...` would reach `/internal/...` of products),
    and the gateway forwards `/api/<service>/...` only."""
    if "%" not in path and "/." not in path:
        return
    decoded = unquote(path)
    if _FORBIDDEN.search(decoded):
        raise BadPath("The path contains a character that is not allowed (encoded control "
                      "character, '#', '?' or '%')")
    segments = decoded.split("/")
    if "." in segments or ".." in segments:
        raise BadPath("The path must not contain '.' or '..' segments")


class BadPath(DomainError):
    status, title = 400, "Bad request"


class MethodNotAllowed(DomainError):
    status, title = 405, "Method not allowed"


class UriTooLong(DomainError):
    status, title = 414, "URI too long"


class UnsupportedMediaType(DomainError):
    status, title = 415, "Unsupported media type"


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def require_json(content_type: str, path: str) -> None:
    """Every public API body is JSON, except a product picture (its own image types,
    checked by products): anything else is a 415 before it travels further, as the OpenAPI
    document says (services.common.openapi documents the 415 of every operation with a body)."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json") or path.endswith("/image"):
        return
    raise UnsupportedMediaType("Send the body as application/json")


class BodyTooLarge(DomainError):
    status, title = 413, "Payload too large"


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused with a 413 once it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"Request bodies are limited to {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def shopper_address(scope: Scope, app_api_token: str | None) -> str | None:
    """The shopper's address on a call the `web` app made through this gateway's sidecar.

    daprd appends its own host to X-Forwarded-For, so the web app names the shopper in
    `x-client-ip`; that is believed only on a call carrying this app's APP_API_TOKEN (which
    only its own daprd sends) from the `web` app id, and ignored on any other request.
    """
    if not app_api_token:
        return None
    headers = dict(scope["headers"])
    token = headers.get(HEADER_DAPR_API_TOKEN.encode())
    if token is None or headers.get(b"dapr-caller-app-id") != WEB.encode():
        return None
    if not hmac.compare_digest(token, app_api_token.encode()):
        return None
    ip = headers.get(HEADER_CLIENT_IP.encode())
    return ip.decode("latin-1") if ip else None


class Proxy:
    """ASGI app for everything under /api (`GET /api` itself: the API information)."""

    def __init__(self, info: bytes = b"{}") -> None:
        self.info = info

    # The sidecar client, authenticator, rate limiter and edge cache are read from the app
    # state per request: they are created in the lifespan (services.gateway.app).

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._forward(scope, receive, send)
        except DomainError as exc:
            await self._send_problem(scope, receive, send, exc.status, exc.title, exc.detail,
                                     exc.headers)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted under /api, so scope["path"] lacks the prefix: use the path as sent.
        path: str = scope["raw_path"].decode("latin-1")
        method: str = scope["method"]  # type: ignore[typeddict-item]
        state = scope["app"].state
        # The caller's address (after uvicorn's trusted-proxy X-Forwarded-For handling).
        client = scope.get("client")
        client_ip = shopper_address(scope, state.settings.app_api_token) or (
            client[0] if client else "unknown")
        if path in ("/api", "/api/"):
            if method != "GET":
                raise MethodNotAllowed("GET /api is the API information",
                                       headers={"Allow": "GET"})
            await self._send(send, 200, [(b"content-type", b"application/json")], self.info)
            return
        limiter: RateLimiter = state.ratelimiter
        await limiter.check(client_ip, method, path)
        parts = path.split("/", 3)  # ['', 'api', '<service>', rest]
        service = parts[2] if len(parts) > 2 else ""
        if service not in BACKEND_APPS:
            raise NotFound(f"No service named {service!r}" if service else "No such route")
        check_path(path)
        sidecar: Sidecar = state.sidecar
        query = scope.get("query_string", b"")
        if len(path) + len(query) > MAX_URL:
            raise UriTooLong(f"The path and query are limited to {MAX_URL} bytes")
        edge: EdgeCache = state.edgecache
        cache_key: str | None = None
        if method == "GET" and edge.enabled:
            if wants_bypass(dict(scope["headers"])):
                EDGE_LOOKUPS.labels("bypass").inc()
            else:
                cache_key = f"{path}?{query.decode('latin-1')}"
                entry = await edge.lookup(cache_key, sidecar)
                if entry is not None:
                    REQUESTS.labels(service, method, "200").inc()
                    await self._send(send, 200, [*entry.headers, _HIT], entry.body)
                    return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in FORWARD_REQUEST:
                headers[name.decode()] = value.decode("latin-1")
        # A client's own x-client-ip never passes, it is not in FORWARD_REQUEST.
        headers[HEADER_CLIENT_IP] = client_ip
        if method == "POST" and "idempotency-key" not in headers and path not in CLIENT_KEYED:
            # daprd retries an invocation whose connection broke (components/resiliency.yaml);
            # with a key, a retry that reaches a service twice returns the first result
            # instead of creating a second order.
            headers["idempotency-key"] = f"gw-{uuid.uuid4()}"
        authenticator: Authenticator = state.authenticator
        identity = await authenticator.identify(headers.get("authorization"))
        if identity is not None:
            headers.update(identity.as_headers())
            if _CONTROL.search(headers.get(HEADER_USER_EMAIL, "").encode()):
                # An address registered before control characters were refused cannot
                # travel in a header; the services identify the caller by id.
                del headers[HEADER_USER_EMAIL]
        telemetry.inject_trace_headers(headers)
        body = await read_body(receive)
        if body and method in _BODY_METHODS:
            require_json(headers.get("content-type", ""), path)
        unknown_method = method not in DAPR_METHODS
        if unknown_method:
            # daprd turns a method it does not know (QUERY, PROPFIND, ...) into a POST:
            # ask the route which methods it has instead, and answer 405 with them.
            method, body = "OPTIONS", b""
        method_path = "health" if parts[3:] == ["health"] else path.lstrip("/")
        if query:
            method_path += "?" + query.decode("latin-1")
        started = time.perf_counter()
        try:
            # encoded=True: the path and query go to daprd exactly as the client sent them.
            url = URL(f"{sidecar.base_url}/v1.0/invoke/{service}/method/{method_path}",
                      encoded=True)
            async with sidecar.session.request(method, url, data=body or None,
                                               headers=headers) as resp:
                status = resp.status
                content = await resp.read()
                raw_headers = resp.raw_headers
        except TimeoutError:
            REQUESTS.labels(service, method, "504").inc()
            raise GatewayTimeout(f"The {service} service did not answer in time") from None
        except aiohttp.ClientError as exc:
            REQUESTS.labels(service, method, "503").inc()
            log.warning("invoke_failed", service=service, error=type(exc).__name__)
            raise Unavailable(f"The {service} service is unreachable") from None
        LATENCY.labels(service).observe(time.perf_counter() - started)
        if status >= 500 and b'"errorCode"' in content[:200]:
            # daprd's own error (app down, circuit open): not the service's answer.
            REQUESTS.labels(service, method, "503").inc()
            log.warning("invoke_failed", service=service, status=status,
                        body=content[:300].decode("utf-8", "replace"))
            raise Unavailable(f"The {service} service is unavailable")
        if unknown_method and status < 300:
            allow = next((v.decode("latin-1") for k, v in raw_headers if k.lower() == b"allow"),
                         "")
            sent: str = scope["method"]  # type: ignore[typeddict-item]
            raise MethodNotAllowed(f"{sent} is not a method of this route",
                                   headers={"Allow": allow})
        REQUESTS.labels(service, method, str(status)).inc()
        out_headers: list[tuple[bytes, bytes]] = []
        version: bytes | None = None
        for k, v in raw_headers:
            name = k.lower()
            if name in FORWARD_RESPONSE:
                out_headers.append((name, v))
            elif name == _CACHE_VERSION:
                version = v
        if cache_key is not None:
            if status == 200 and version is not None:
                edge.store(cache_key, version,
                           [h for h in out_headers if h[0] not in _PER_REQUEST], content)
            out_headers.append(_MISS)
        await self._send(send, status, out_headers, content)

    @staticmethod
    async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                    body: bytes) -> None:
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    @staticmethod
    async def _send_problem(scope: Scope, receive: Receive, send: Send, status: int, title: str,
                            detail: str, headers: dict[str, str]) -> None:
        resp = problem(status, title, detail, headers=headers,
                       instance=scope["raw_path"].decode("latin-1"))
        await resp.to_asgi_response(app=None, request=Request(scope))(scope, receive, send)


__all__ = ["FORWARD_REQUEST", "FORWARD_RESPONSE", "MAX_BODY", "Proxy"]
