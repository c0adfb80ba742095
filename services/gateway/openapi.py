"""One OpenAPI document for the public API, and interactive docs, served by the gateway.

Each service publishes its own schema at `/schema/openapi.json` (Litestar generates it from
the msgspec types; services.common.openapi adds the bearer scheme and the problem+json errors).
The gateway fetches them through its sidecar (Dapr service invocation), keeps only the
public paths (`/api/<service>/...`), prefixes each service's component names with the
service (`products_ProductOut`) so two services may both have a `PageOut`, adds its own
routes and the answers only it gives (429 from the rate limiter, 503 when a service is
down), and caches the result for `ttl` seconds. A service that cannot be reached keeps its
last good part; if it never answered, the document omits it and is retried sooner.

`/docs` is Swagger UI, its assets served from the `swagger-ui-py` package (no CDN).
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import time
from pathlib import Path
from typing import Any

import msgspec
import structlog

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.common.names import BACKEND_APPS
from services.common.openapi import BEARER_SCHEME, PROBLEM_SCHEMA, openapi_components

log = structlog.get_logger(__name__)

SCHEMA_PATH = "schema/openapi.json"
SHARED_SCHEMAS = frozenset({PROBLEM_SCHEMA})  # identical in every service: kept unprefixed

def _swagger_static() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # the swagger-ui-py package's assets
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (pyproject dependencies)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


SWAGGER_STATIC = _swagger_static()
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/problem+json": {"schema": _PROBLEM_REF}}}
    if headers:
        out["headers"] = headers
    return out


RATE_LIMITED = _problem("Too many requests from this client (gateway rate limit)", {
    "Retry-After": {"description": "Seconds until the window resets",
                    "schema": {"type": "integer"}}})
UNAVAILABLE = _problem("The service behind the gateway is unavailable")
TOO_LARGE = _problem("The body is larger than the gateway takes (1 MiB)")
URI_TOO_LONG = _problem("The path and query are longer than the gateway takes (6 KiB)")
# The Problem schema and bearer scheme every service documents (services.common.openapi).
_SHARED = openapi_components().to_schema()
PROBLEM = _SHARED["schemas"][PROBLEM_SCHEMA]
BEARER = _SHARED["securitySchemes"][BEARER_SCHEME]


def _json_ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def gateway_paths(services: tuple[str, ...]) -> dict[str, Any]:
    """The gateway's own public routes."""
    status_map = {"type": "object", "additionalProperties": {"type": "string",
                                                               "enum": ["ok", "down"]}}
    paths: dict[str, Any] = {
        "/api": {"get": {"summary": "API information", "operationId": "GatewayInfo",
                      "tags": ["gateway"],
                      "responses": {"200": _json_ok("Name, version and service prefixes",
                                                    {"type": "object"})}}},
        "/health": {"get": {
            "summary": "Readiness of every service behind the gateway", "tags": ["gateway"],
            "operationId": "GatewayHealth",
            "responses": {
                "200": _json_ok("Every service is ready", {
                    "type": "object", "properties": {"status": {"type": "string"},
                                                     "services": status_map}}),
                "503": _json_ok("At least one service is down (named in `down`)", {
                    "type": "object", "properties": {
                        "status": {"type": "string"}, "services": status_map,
                        "down": {"type": "array", "items": {"type": "string"}}}}),
            }}},
    }
    for svc in services:
        paths[f"/api/{svc}/health"] = {"get": {
            "summary": f"Liveness of {svc} through the gateway and Dapr",
            "operationId": f"{svc.capitalize()}Liveness", "tags": [svc],
            "responses": {"200": _json_ok("The service process is up", {
                "type": "object", "properties": {"status": {"type": "string"},
                                                 "service": {"type": "string"}}}),
                          "429": RATE_LIMITED, "503": UNAVAILABLE}}}
    return paths


def _rewrite_refs(node: Any, rename: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                name = v.rsplit("/", 1)[1]
                out[k] = f"#/components/schemas/{rename.get(name, name)}"
            else:
                out[k] = _rewrite_refs(v, rename)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, rename) for v in node]
    return node


# What the gateway lets through in a path (services.gateway.proxy.check_path): a string path
# parameter that says nothing narrower (a format, a pattern) is documented with this rule.
PATH_SEGMENT = {"pattern": "^[^\\x00-\\x1f\\x7f#?%/]+$", "not": {"enum": [".", ".."]}}


def _document_path_rule(op: dict[str, Any]) -> None:
    for param in op.get("parameters") or ():
        schema = param.get("schema")
        if (param.get("in") == "path" and isinstance(schema, dict)
                and schema.get("type") == "string"
                and not {"format", "pattern", "enum", "$ref"} & set(schema)):
            schema.update(copy.deepcopy(PATH_SEGMENT))


def public_part(service: str, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The public paths of one service's schema and the components they use, renamed."""
    prefix = f"/api/{service}"
    schemas: dict[str, Any] = (doc.get("components") or {}).get("schemas") or {}
    rename = {n: n if n in SHARED_SCHEMAS else f"{service}_{n}" for n in schemas}
    paths: dict[str, Any] = {}
    for path, item in (doc.get("paths") or {}).items():
        if path != prefix and not path.startswith(prefix + "/"):
            continue  # internal routes, metrics, health and schema stay private
        item = _rewrite_refs(copy.deepcopy(item), rename)
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op.setdefault("tags", [service])
            if op.get("operationId"):
                op["operationId"] = f"{service}_{op['operationId']}"
            _document_path_rule(op)
            responses = op.setdefault("responses", {})
            # The gateway checks any token it is sent, on every route.
            responses.setdefault("401", _problem("Invalid or expired bearer token"))
            if "requestBody" in op:
                responses.setdefault("413", TOO_LARGE)
            responses.setdefault("414", URI_TOO_LONG)
            responses.setdefault("429", RATE_LIMITED)
            responses.setdefault("503", UNAVAILABLE)
        paths[path] = item
    components = {rename[n]: _rewrite_refs(s, rename) for n, s in schemas.items()
                  if n not in SHARED_SCHEMAS}
    return paths, components


def merge(parts: dict[str, dict[str, Any]], *, version: str = "0.1.0") -> dict[str, Any]:
    """The public document from each service's schema (service -> its openapi.json)."""
    paths = gateway_paths(tuple(parts) or BACKEND_APPS)
    schemas: dict[str, Any] = {PROBLEM_SCHEMA: PROBLEM}
    tags = [{"name": "gateway", "description": "The gateway's own routes"}]
    for service, doc in parts.items():
        svc_paths, svc_schemas = public_part(service, doc)
        paths.update(svc_paths)
        schemas.update(svc_schemas)
        info = doc.get("info") or {}
        tags.append({"name": service, "description": info.get("description") or
                     info.get("title") or service})
    return {
        "openapi": "3.1.0",
        "info": {"title": "ecommerce-dapr public API", "version": version,
                 "description": "Every public route of the platform, as the gateway serves "
                                "it. Errors are application/problem+json. Authenticate with "
                                "`Authorization: Bearer <token>` from /api/users/login."},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items())),
                       "securitySchemes": {BEARER_SCHEME: BEARER}},
    }


class OpenAPIAggregator:
    """Builds, caches and serves the merged document (as encoded JSON)."""

    def __init__(self, sidecar: Sidecar, *, services: tuple[str, ...] = BACKEND_APPS,
                 ttl: float = 60.0, retry: float = 5.0) -> None:
        self.sidecar = sidecar
        self.services = services
        self.ttl = ttl
        self.retry = retry
        self._parts: dict[str, dict[str, Any]] = {}
        self._encoded: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = await self.sidecar.invoke_json(service, "GET", SCHEMA_PATH,
                                                                 timeout=5.0)
        except (DomainError, msgspec.DecodeError) as exc:
            log.warning("openapi_fetch_failed", service=service, error=str(exc)[:200])
            return None
        return doc

    async def document(self) -> bytes:
        if self._encoded is not None and time.monotonic() < self._expires:
            return self._encoded
        async with self._lock:
            if self._encoded is not None and time.monotonic() < self._expires:
                return self._encoded
            docs = await asyncio.gather(*(self._fetch(s) for s in self.services))
            for service, doc in zip(self.services, docs, strict=True):
                if doc is not None:
                    self._parts[service] = doc
            complete = all(s in self._parts for s in self.services)
            ordered = {s: self._parts[s] for s in self.services if s in self._parts}
            self._encoded = msgspec.json.encode(merge(ordered))
            self._expires = time.monotonic() + (self.ttl if complete else self.retry)
            return self._encoded


SWAGGER_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ecommerce-dapr API</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""
