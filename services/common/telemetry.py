"""Request context for logs and traces, database pool metrics, and optional OTLP export.

- Every HTTP request gets a request id (`x-request-id`: the caller's if well-formed, else a
  new one), returned in the response and bound, with the W3C trace id from `traceparent`,
  into every log line written while the request is handled.
- The gateway (`start_traces=True`) starts a W3C trace when the client sent none, so its
  sidecar, the services' sidecars and the services all log and report the same trace id.
- With OTEL_EXPORTER_OTLP_ENDPOINT set, spans of the app are exported over OTLP/HTTP via
  Litestar's OpenTelemetry integration; without it (the local default) nothing is exported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_ID = b"x-request-id"
TRACEPARENT = b"traceparent"
_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_ZERO_TRACE = b"0" * 32
# Probes and scrapes are not worth an access-log line each.
_QUIET = re.compile(r"^/(health|metrics|schema|docs)|/health$")
access_log = structlog.get_logger("access")
# The W3C trace context and request id of the request being handled, for outgoing calls.
_OUTGOING: ContextVar[dict[str, str] | None] = ContextVar("ecommerce_outgoing", default=None)


def outgoing_headers() -> dict[str, str]:
    """traceparent / tracestate / x-request-id of the current request, to pass on to Dapr
    (service invocation and publish), so the next hop continues the same trace."""
    return _OUTGOING.get() or {}


_CARRIED = ("traceparent", "tracestate", "x-request-id")


def continue_trace(headers: dict[str, str] | None) -> None:
    """Make `headers` (saved from an earlier request) the current trace context, for work
    that runs outside that request, such as a workflow activity; None clears it."""
    _OUTGOING.set(_carried(headers))


def _carried(headers: dict[str, str] | None) -> dict[str, str] | None:
    """The trace headers worth passing on, from headers stored earlier (None: none)."""
    kept = {k: v for k, v in (headers or {}).items() if k in _CARRIED and isinstance(v, str)}
    return kept or None


def trace_json() -> str | None:
    """The current trace context as JSON, to store with an outbox row (None without one)."""
    headers = _OUTGOING.get()
    return json.dumps(headers) if headers else None


@contextlib.contextmanager
def traced(headers: dict[str, str] | None) -> Iterator[None]:
    """Calls made inside continue the trace of `headers` (stored earlier); then the trace
    context of before is back."""
    token = _OUTGOING.set(_carried(headers))
    try:
        yield
    finally:
        _OUTGOING.reset(token)


def trace_id_of(traceparent: bytes | None) -> str | None:
    """The trace id of a valid W3C traceparent header, else None."""
    if not traceparent:
        return None
    m = _TRACEPARENT.match(traceparent.strip().lower())
    if m is None or m.group(1) == _ZERO_TRACE or m.group(2) == b"0" * 16:
        return None
    return m.group(1).decode()


def new_traceparent() -> bytes:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01".encode()


class RequestContextMiddleware:
    """Raw ASGI middleware: request id and trace id into the log context and the response,
    and one access-log line per request (method, path without the query, status, time)."""

    def __init__(self, app: ASGIApp, *, start_traces: bool = False,
                 access: bool = True) -> None:
        self.app = app
        self.start_traces = start_traces
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        request_id: bytes | None = None
        traceparent: bytes | None = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                request_id = value
            elif name == TRACEPARENT:
                traceparent = value
        replace: list[tuple[bytes, bytes]] = []
        if request_id is None or not _REQUEST_ID_OK.match(request_id):
            request_id = uuid.uuid4().hex.encode()
            replace.append((REQUEST_ID, request_id))
        trace_id = trace_id_of(traceparent)
        if trace_id is None and self.start_traces:
            traceparent = new_traceparent()
            trace_id = traceparent[3:35].decode()
            replace.append((TRACEPARENT, traceparent))
        if replace:
            names = {n for n, _ in replace}
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n not in names] + replace
        rid = request_id.decode()
        structlog.contextvars.bind_contextvars(request_id=rid, trace_id=trace_id)
        outgoing = {"x-request-id": rid}
        if trace_id is not None and traceparent is not None:
            outgoing["traceparent"] = traceparent.decode()
            for name, value in scope["headers"]:
                if name == b"tracestate":
                    outgoing["tracestate"] = value.decode("latin-1")
        context_token = _OUTGOING.set(outgoing)
        header = (REQUEST_ID, request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or ())
                if not any(n.lower() == REQUEST_ID for n, _ in headers):
                    headers.append(header)
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
            if self.access and not _QUIET.search(path):
                access_log.info("request", method=scope.get("method"), path=path, status=status,
                                duration_ms=round((time.perf_counter() - started) * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id", "trace_id")
            _OUTGOING.reset(context_token)


# --------------------------------------------------------------------------------------------
# database pool metrics
# --------------------------------------------------------------------------------------------
class _PoolCollector(Collector):
    """Reads asyncpg pool sizes at scrape time (no bookkeeping on the request path)."""

    def __init__(self) -> None:
        self.sources: dict[str, Callable[[], Any]] = {}

    def collect(self) -> Iterator[Metric]:
        size = GaugeMetricFamily("ecommerce_db_pool_size", "Open connections in the pool",
                                 labels=["app_name"])
        idle = GaugeMetricFamily("ecommerce_db_pool_idle", "Idle connections in the pool",
                                 labels=["app_name"])
        in_use = GaugeMetricFamily("ecommerce_db_pool_in_use",
                                   "Connections checked out of the pool", labels=["app_name"])
        maximum = GaugeMetricFamily("ecommerce_db_pool_max", "Maximum size of the pool",
                                    labels=["app_name"])
        for app_name, source in self.sources.items():
            pool = source()
            if pool is None:
                continue
            s, i = pool.get_size(), pool.get_idle_size()
            size.add_metric([app_name], s)
            idle.add_metric([app_name], i)
            in_use.add_metric([app_name], s - i)
            maximum.add_metric([app_name], pool.get_max_size())
        yield from (size, idle, in_use, maximum)


_POOLS: _PoolCollector | None = None


def register_pool_metrics(app_name: str, source: Callable[[], Any]) -> None:
    """Expose the pool that `source()` returns (None while there is none) on /metrics."""
    global _POOLS
    if _POOLS is None:
        _POOLS = _PoolCollector()
        REGISTRY.register(_POOLS)
    _POOLS.sources[app_name] = source


# --------------------------------------------------------------------------------------------
# OpenTelemetry export (off unless OTEL_EXPORTER_OTLP_ENDPOINT is set)
# --------------------------------------------------------------------------------------------
_OTEL_ON = False


def otel_enabled(env: MutableMapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or
                env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def otel_plugins(app_id: str) -> list[Any]:
    """Litestar's OpenTelemetry plugin with an OTLP/HTTP exporter, or [] when not configured.

    The exporter reads the standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers,
    timeout); the service name is the app id.
    """
    global _OTEL_ON
    if not otel_enabled():
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not _OTEL_ON:
        provider = TracerProvider(resource=Resource.create({"service.name": app_id}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _OTEL_ON = True
    return [OpenTelemetryPlugin(OpenTelemetryConfig(
        exclude=["^/health", "^/metrics", "^/schema"]))]


def inject_trace_headers(headers: dict[str, str]) -> None:
    """With OTel on, make the outgoing call a child of the current span (W3C headers)."""
    if _OTEL_ON:
        from opentelemetry.propagate import inject

        inject(headers)
