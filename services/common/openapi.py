"""Every service's OpenAPI document says what the service does: the bearer scheme and the
problem+json errors every route can answer, links from what a client creates to what it
does next, and what the msgspec decoder enforces where Litestar's generated schema (2.25)
does not (closed objects, bounds of 0, no NUL in stored text, no null headers).
build_app (services.common.app) applies it to each app; the gateway merges the documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from litestar import Litestar
from litestar.openapi.spec import OpenAPIType

from services.common import text
from services.common.auth import provide_admin, provide_identity

log = structlog.get_logger(__name__)

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


def document_errors_and_security(app: Litestar) -> None:
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

