"""Domain errors and the one mapping that turns any error into problem+json."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """Base of every error a service raises on purpose; `status` picks the HTTP answer."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class InvalidInput(DomainError):
    status, title = 422, "Invalid input"


class Unauthorized(DomainError):
    status, title = 401, "Unauthorized"

    def __init__(self, detail: str = "A valid bearer token is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="ecommerce"'})


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


class NotFound(DomainError):
    status, title = 404, "Not found"


class Conflict(DomainError):
    status, title = 409, "Conflict"


class TooManyRequests(DomainError):
    status, title = 429, "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(DomainError):
    status, title = 503, "Service unavailable"


class UpstreamError(DomainError):
    status, title = 502, "Bad gateway"


class GatewayTimeout(DomainError):
    status, title = 504, "Gateway timeout"


def problem(status: int, title: str, detail: str, *,
            errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None, instance: str | None = None) -> Response[Any]:
    """A problem+json response (RFC 9457)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(extra: Any) -> list[dict[str, Any]] | None:
    if not isinstance(extra, list):
        return None
    out = []
    for item in extra:
        if isinstance(item, dict):
            out.append({"field": item.get("key") or item.get("source") or "body",
                        "message": str(item.get("message", ""))})
    return out or None


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(exc.status, exc.title, exc.detail, errors=exc.errors, headers=exc.headers,
                   instance=request.url.path)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("http_error", path=request.url.path, status=status, detail=exc.detail)
        return problem(status, "Internal error", "The server could not complete the request",
                       instance=request.url.path)
    errors = _validation_errors(exc.extra) if isinstance(exc, ValidationException) else None
    title = "Invalid input" if isinstance(exc, ValidationException) else _title(status)
    detail = exc.detail
    if errors and detail.startswith("Validation failed"):
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(status, title, detail, errors=errors, headers=dict(exc.headers or {}),
                   instance=request.url.path)


# Postgres' refusals of a value itself (a NUL character in text or jsonb, a number or a text
# too large for its column), which only a client-supplied value produces in this code base;
# the rest of the data-exception class (22xxx) can be a bug of ours and stays a 500.
UNSTORABLE_VALUE = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError,
                    asyncpg.NumericValueOutOfRangeError, asyncpg.StringDataRightTruncationError)


def unstorable_value_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """One answer in every service for a value no column can hold: nothing was written."""
    log.warning("unstorable_value", path=request.url.path, error=type(exc).__name__,
                sqlstate=getattr(exc, "sqlstate", None))
    return problem(422, "Invalid input",
                   "The request contains a value that cannot be stored (for example a NUL "
                   "character or a number out of range)", instance=request.url.path)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled_error", path=request.url.path, error=type(exc).__name__)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error",
                   "The server could not complete the request", instance=request.url.path)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    **dict.fromkeys(UNSTORABLE_VALUE, unstorable_value_handler),
    Exception: internal_error_handler,
}

__all__ = [
    "EXCEPTION_HANDLERS", "PROBLEM_JSON", "Conflict", "DomainError", "Forbidden", "InvalidInput",
    "MediaType", "NotFound", "TooManyRequests", "Unauthorized", "Unavailable", "UpstreamError",
    "problem",
]
