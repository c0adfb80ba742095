"""The storefront behind the one public entry: every path the gateway does not own itself
(`/api`, `/health`, `/docs`, `/openapi.json`, `/metrics`, `/schema`) goes to the `web` app
by Dapr service invocation, as the API goes to the services.

The browser's method, path, query, body, cookies and form headers go along; the gateway
adds what the browser used (`x-forwarded-proto`, `x-forwarded-host`) and its address
(`x-client-ip`, after uvicorn's trusted-proxy handling). Redirects are passed back as they
are, never followed. The web app in turn calls the API through the gateway's sidecar as the
shopper; `proxy.shopper_address` lets the rate limiter count those calls per shopper.
"""

from __future__ import annotations

import time

import aiohttp
import structlog
from litestar import Litestar, Request
from litestar.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from services.common import telemetry
from services.common.dapr import Sidecar
from services.common.errors import DomainError, GatewayTimeout, Unavailable, problem
from services.common.names import HEADER_CLIENT_IP, WEB
from services.gateway.proxy import LATENCY, REQUESTS, check_path, read_body

log = structlog.get_logger(__name__)

GATEWAY_PATHS = ("/api", "/health", "/docs", "/openapi.json", "/metrics", "/schema")
# Form posts, and the admin console's picture upload: a picture of up to 1 MiB (what the
# products service takes) plus the multipart form around it.
MAX_BODY = (1 << 20) + (64 << 10)
FORWARD_REQUEST = frozenset({
    b"cookie", b"content-type", b"accept", b"accept-language", b"user-agent", b"origin",
    b"referer", b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest", b"x-csrf-token",
    b"if-none-match", b"if-modified-since", b"x-request-id", b"traceparent", b"tracestate",
})
FORWARD_RESPONSE = frozenset({
    b"content-type", b"set-cookie", b"location", b"cache-control", b"etag", b"last-modified",
    b"retry-after", b"content-security-policy", b"x-content-type-options", b"x-frame-options",
    b"referrer-policy", b"permissions-policy", b"cross-origin-opener-policy",
    b"content-disposition", b"x-request-id", b"vary",
})

def owned_by_gateway(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in GATEWAY_PATHS)


class WebForwarder:
    """ASGI app: one page request to the `web` app through the gateway's sidecar."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._forward(scope, receive, send)
        except DomainError as exc:
            resp = problem(exc.status, exc.title, exc.detail, headers=exc.headers,
                           instance=scope["raw_path"].decode("latin-1"))
            await resp.to_asgi_response(app=None, request=Request(scope))(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["raw_path"].decode("latin-1")
        check_path(path)
        method: str = scope["method"]  # type: ignore[typeddict-item]
        sidecar: Sidecar = self.app.state.sidecar
        client = scope.get("client")
        headers: dict[str, str] = {}
        host = ""
        for name, value in scope["headers"]:
            if name in FORWARD_REQUEST:
                headers[name.decode()] = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        headers[HEADER_CLIENT_IP] = client[0] if client else "unknown"
        headers["x-forwarded-proto"] = scope.get("scheme", "http")
        headers["x-forwarded-host"] = host
        for key, val in telemetry.outgoing_headers().items():
            headers.setdefault(key, val)
        telemetry.inject_trace_headers(headers)
        body = await read_body(receive, MAX_BODY)
        target = path.lstrip("/")
        if query := scope.get("query_string", b""):
            target += "?" + query.decode("latin-1")
        started = time.perf_counter()
        try:
            url = URL(f"{sidecar.base_url}/v1.0/invoke/{WEB}/method/{target}", encoded=True)
            async with sidecar.session.request(method, url, data=body or None, headers=headers,
                                               allow_redirects=False) as resp:
                status, content, raw = resp.status, await resp.read(), resp.raw_headers
        except TimeoutError:
            REQUESTS.labels(WEB, method, "504").inc()
            raise GatewayTimeout("The shop did not answer in time") from None
        except aiohttp.ClientError as exc:
            REQUESTS.labels(WEB, method, "503").inc()
            log.warning("invoke_failed", service=WEB, error=type(exc).__name__)
            raise Unavailable("The shop is unreachable") from None
        LATENCY.labels(WEB).observe(time.perf_counter() - started)
        if status >= 500 and b'"errorCode"' in content[:200]:
            REQUESTS.labels(WEB, method, "503").inc()
            log.warning("invoke_failed", service=WEB, status=status,
                        body=content[:300].decode("utf-8", "replace"))
            await _send(send, 503, [(b"content-type", b"text/html; charset=utf-8"),
                                    (b"retry-after", b"30"),
                                    (b"content-security-policy", b"default-src 'none'")],
                        UNAVAILABLE_PAGE)
            return
        REQUESTS.labels(WEB, method, str(status)).inc()
        out = [(k.lower(), v) for k, v in raw if k.lower() in FORWARD_RESPONSE]
        await _send(send, status, out, content)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]],
                body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


# When the web app itself cannot be reached, the gateway still answers with a page.
UNAVAILABLE_PAGE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The shop is unavailable</title></head><body>
<main><h1>The shop is briefly unavailable</h1>
<p>We are having trouble showing the shop right now. Please try again in a minute.</p>
</main></body></html>"""


class SiteDispatch:
    """Before routing: the gateway's own paths to its Litestar app, the rest to `web`."""

    def __init__(self, gateway: ASGIApp, web: ASGIApp) -> None:
        self.gateway = gateway
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not owned_by_gateway(  # type: ignore[comparison-overlap]
                scope["path"]):
            await self.web(scope, receive, send)
        else:
            await self.gateway(scope, receive, send)


def mount(app: Litestar) -> None:
    """Send every path outside the gateway's own to the storefront."""
    forwarder = telemetry.RequestContextMiddleware(WebForwarder(app), start_traces=True)
    app.asgi_handler = SiteDispatch(app.asgi_handler, forwarder)
