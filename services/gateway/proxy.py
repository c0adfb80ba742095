"""Forward `/api/<service>/...` to the service by Dapr service invocation.

A raw ASGI app (mounted by services.gateway.app) so the hot path does no routing,
validation or serialisation of its own: it copies method, path, query, body and the
headers that matter, through one pooled client to the gateway's sidecar.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request
from litestar.types import Receive, Scope, Send

from services.common.dapr import Sidecar
from services.common.errors import DomainError, problem
from services.common.names import BACKEND_APPS, HEADER_CLIENT_IP
from services.gateway.auth import Authenticator

log = structlog.get_logger(__name__)

MAX_BODY = 1 << 20  # 1 MiB: no public request needs more.
# Request headers passed on to the service (identity headers are added by the gateway).
FORWARD_REQUEST = frozenset({
    b"content-type", b"accept", b"authorization", b"idempotency-key", b"x-request-id",
    b"traceparent", b"tracestate", b"if-none-match", b"if-match",
})  # never x-user-*: identity headers are set by the gateway alone
FORWARD_RESPONSE = frozenset({
    "content-type", "retry-after", "www-authenticate", "location", "etag", "cache-control",
    "x-request-id", "x-total-count", "traceparent",
})


class BodyTooLarge(DomainError):
    status, title = 413, "Payload too large"


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge(f"Request bodies are limited to {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class Proxy:
    """ASGI app for everything under /api."""

    def __init__(self, sidecar_of: Any, authenticator_of: Any) -> None:
        # Resolved per request from app state: both are created in the lifespan.
        self._sidecar_of = sidecar_of
        self._authenticator_of = authenticator_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._forward(scope, receive, send)
        except DomainError as exc:
            await self._send_problem(scope, receive, send, exc.status, exc.title, exc.detail,
                                     exc.headers)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted under /api, so scope["path"] lacks the prefix: use the path as sent.
        path: str = scope["raw_path"].decode("latin-1")
        parts = path.split("/", 3)  # ['', 'api', '<service>', rest]
        service = parts[2] if len(parts) > 2 else ""
        if service not in BACKEND_APPS:
            raise _NotFound(f"No service named {service!r}" if service else "No such route")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in FORWARD_REQUEST:
                headers[name.decode()] = value.decode("latin-1")
        # The caller's address (after uvicorn's trusted-proxy X-Forwarded-For handling); a
        # client's own x-client-ip never passes, it is not in FORWARD_REQUEST.
        client = scope.get("client")
        headers[HEADER_CLIENT_IP] = client[0] if client else "unknown"
        authenticator: Authenticator = self._authenticator_of(scope)
        identity = await authenticator.identify(headers.get("authorization"))
        if identity is not None:
            headers.update(identity.as_headers())
        body = await _read_body(receive)
        sidecar: Sidecar = self._sidecar_of(scope)
        method_path = path.lstrip("/")
        query = scope.get("query_string", b"")
        if query:
            method_path += "?" + query.decode("latin-1")
        upstream = await sidecar.invoke(service, scope["method"], method_path, content=body or None,
                                        headers=headers)
        if upstream.status_code >= 500 and b'"errorCode"' in upstream.content[:200]:
            # daprd's own error (app down, circuit open): not the service's answer.
            log.warning("invoke_failed", service=service, status=upstream.status_code,
                        body=upstream.text[:300])
            raise _Unavailable(f"The {service} service is unavailable")
        out_headers = [(k.encode(), v.encode("latin-1")) for k, v in upstream.headers.items()
                       if k in FORWARD_RESPONSE]
        out_headers.append((b"content-length", str(len(upstream.content)).encode()))
        await send({"type": "http.response.start", "status": upstream.status_code,
                    "headers": out_headers})
        await send({"type": "http.response.body", "body": upstream.content})

    @staticmethod
    async def _send_problem(scope: Scope, receive: Receive, send: Send, status: int, title: str,
                            detail: str, headers: dict[str, str]) -> None:
        resp = problem(status, title, detail, headers=headers,
                       instance=scope["raw_path"].decode("latin-1"))
        await resp.to_asgi_response(app=None, request=Request(scope))(scope, receive, send)


class _NotFound(DomainError):
    status, title = 404, "Not found"


class _Unavailable(DomainError):
    status, title = 503, "Service unavailable"

