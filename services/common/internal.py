"""Who may call a service's `/internal/...` endpoints.

Dapr's `accessControl` (in the Configuration) identifies the caller by its SPIFFE id, which
only exists with mTLS (Sentry). This platform runs daprd without mTLS in development, where
the policy can only apply its global default to every caller alike (docs/security.md). The
apps enforce it instead: the calling sidecar adds `dapr-caller-app-id` with its own app id
to every service invocation, and the app accepts only calls from its own sidecar
(services.common.app.SidecarOnlyGuard).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Controller, Request, Response
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from services.common.contracts.errors import ErrorCode
from services.common.errors import PROBLEM_JSON, DomainError, Forbidden

# Set by the calling daprd on every service invocation.
HEADER_CALLER_APP_ID: Final = "dapr-caller-app-id"


def caller_app_ids(connection: ASGIConnection[Any, Any, Any, Any]) -> list[str]:
    """Every `dapr-caller-app-id` value of the request.

    The calling daprd adds its own app id but passes a value the caller sent along as a
    second header, so a caller can add names but never remove its own: a guard must accept
    a request only if every value is allowed."""
    values: list[str] = connection.headers.getall(HEADER_CALLER_APP_ID, [])
    return values


def require_caller(*app_ids: str) -> Guard:
    """A Litestar guard: only the named apps may call the route (403 problem otherwise)."""
    if not app_ids:
        raise ValueError("require_caller needs at least one app id")
    allowed = frozenset(app_ids)
    names = ", ".join(sorted(allowed))

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        callers = caller_app_ids(connection)
        if not callers or not allowed.issuperset(callers):
            raise Forbidden(f"Only {names} may call this internal endpoint")

    return guard


class CodedError(DomainError):
    """A DomainError whose problem body also carries a machine-readable `code` and any
    extra members (RFC 9457 extensions), for the service that called an internal endpoint:
    `raise CodedError(409, ErrorCode.OUT_OF_STOCK, "...", unavailable=[...])`; the caller
    reads it with services.common.contracts.errors.read_problem."""

    def __init__(self, status: int, code: ErrorCode | str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = _TITLES.get(status, "Error")
        self.code = code
        self.extra = extra


_TITLES = {400: "Bad request", 404: "Not found", 409: "Conflict", 422: "Invalid input"}


def coded_error_handler(request: Request[Any, Any, Any], exc: CodedError) -> Response[Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": exc.title, "status": exc.status,
                            "detail": exc.detail, "instance": request.url.path,
                            "code": str(exc.code), **msgspec.to_builtins(exc.extra)}
    return Response(content=body, status_code=exc.status, media_type=PROBLEM_JSON)


# For `exception_handlers=` of the Router that holds a service's internal routes.
CODED_ERROR_HANDLERS: dict[Any, Any] = {CodedError: coded_error_handler}


class InternalController(Controller):
    """Base of a service's `/internal/...` routes: kept out of the OpenAPI document, refusals
    answered with their ErrorCode. A subclass sets `path` (from the contract's constant) and
    `guards = [require_caller(...)]`."""

    include_in_schema = False
    exception_handlers = CODED_ERROR_HANDLERS
