"""Rendering a page: the template, the header's shopper data (name, basket count, unread
notifications), the CSRF token and the flash messages; and the pages for errors."""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import structlog
from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.web.middleware import header, is_https
from services.web.platform import (
    ApiError,
    Degraded,
    LoginRequired,
    PageNotFound,
    Platform,
    RateLimited,
    Shopper,
)
from services.web.sessions import SessionStore, csrf_ok

log = structlog.get_logger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"

REASONS = {
    "out_of_stock": "Some items were out of stock when we tried to reserve them, so the "
                    "order was cancelled and nothing was charged.",
    "payment_declined": "The payment was declined by the card issuer, so the order was "
                        "cancelled and nothing was charged.",
    "cancelled_by_customer": "You cancelled this order.",
    "not_shipped_in_time": "The order was not shipped in time, so it was cancelled.",
    "reservation_expired": "The stock reservation ran out before payment, so the order was "
                           "cancelled.",
}
STATUS_LABELS = {"pending": "Pending", "processing": "Processing", "shipped": "Shipped",
                 "delivered": "Delivered", "cancelled": "Cancelled"}


def reason_text(reason: str | None) -> str:
    if not reason:
        return ""
    return REASONS.get(reason, reason.replace("_", " ").capitalize() + ".")


def money(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"${amount:,.2f}"


def _asset_versions() -> dict[str, str]:
    """A content hash per static file: `/static/shop.css?v=<hash>` can be cached for a year."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            for p in STATIC.iterdir() if p.is_file()}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    versions = _asset_versions()

    def engine_callback(engine: JinjaTemplateEngine) -> None:
        env = engine.engine
        env.autoescape = True
        env.trim_blocks = True
        env.lstrip_blocks = True
        env.filters["money"] = money
        env.filters["reason"] = reason_text
        env.filters["status_label"] = lambda s: STATUS_LABELS.get(str(s), str(s).title())
        env.filters["urlq"] = lambda s: quote(str(s), safe="")
        env.globals["asset"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
        env.globals["query"] = lambda base, **kw: base + ("?" + urlencode(
            {k: v for k, v in kw.items() if v not in (None, "")}) if any(
            v not in (None, "") for v in kw.values()) else "")

    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                          engine_callback=engine_callback)


def client_ip(request: Request[Any, Any, Any]) -> str:
    from services.common.names import HEADER_CLIENT_IP

    ip = header(request.scope, HEADER_CLIENT_IP.encode())
    if ip:
        return ip
    client = request.client
    return client.host if client else "unknown"


async def provide_shopper(request: Request[Any, Any, Any], state: State) -> Shopper:
    """Dependency: the shopper of this request (registered with the session middleware)."""
    sidecar: Sidecar = state.sidecar
    shopper = Shopper(request, SessionStore(sidecar), Platform(sidecar, client_ip(request)))
    request.scope["state"]["shop"]["shopper"] = shopper
    return shopper


def shopper_of(request: Request[Any, Any, Any]) -> Shopper:
    shop = request.scope["state"]["shop"]
    found = shop.get("shopper")
    if found is None:
        sidecar: Sidecar = request.app.state.sidecar
        found = Shopper(request, SessionStore(sidecar), Platform(sidecar, client_ip(request)))
        shop["shopper"] = found
    assert isinstance(found, Shopper)
    return found


async def _header_counts(shopper: Shopper) -> tuple[int, int]:
    """Basket items and unread notifications for the header; 0 when unknown."""
    data = await shopper.data()

    async def basket() -> int:
        if data.user is None and data.basket_token is None:
            return 0
        body = await shopper.basket_call("GET", "/api/basket")
        return int((body or {}).get("item_count") or 0)

    async def unread() -> int:
        if data.user is None:
            return 0
        body = await shopper.api("GET", "/api/notifications",
                                 params={"unread": "true", "page_size": "1"})
        return int((body or {}).get("total") or 0)

    results = await asyncio.gather(basket(), unread(), return_exceptions=True)
    return tuple(r if isinstance(r, int) else 0 for r in results)  # type: ignore[return-value]


async def render(shopper: Shopper, name: str, *, status: int = 200,
                 counts: bool = True, **context: Any) -> Template:
    basket_count, unread = await _header_counts(shopper) if counts else (0, 0)
    user = await shopper.user()
    return Template(template_name=name, status_code=status, context={
        **context, "user": user, "csrf": shopper.csrf, "flash": await shopper.pop_flash(),
        "basket_count": basket_count, "unread": unread,
        "path": shopper.request.url.path,
    }, headers={"Cache-Control": "no-cache, private"})


def safe_next(raw: str | None) -> str:
    """Only a path of this site: never `//host` or `https://...` (an open redirect)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw


# --------------------------------------------------------------------------------------------
# Errors become pages, never a traceback
# --------------------------------------------------------------------------------------------
def _error_page(request: Request[Any, Any, Any], status: int, title: str, message: str,
                *, headers: dict[str, str] | None = None,
                template: str = "error.html") -> Response[Any]:
    shopper = shopper_of(request)
    # A page for a browser (every navigation asks for text/html); problem+json for API
    # clients, which reach the web app for any path outside /api (`/internal/...`, a typo).
    if "text/html" not in (request.headers.get("accept") or ""):
        return Response({"type": "about:blank", "status": status, "title": title,
                         "detail": message}, status_code=status, headers=headers,
                        media_type="application/problem+json")
    return Template(template_name=template, status_code=status, headers={
        "Cache-Control": "no-store", **(headers or {})}, context={
        "status": status, "title": title, "message": message, "user": None,
        "csrf": shopper.csrf, "flash": [], "basket_count": 0, "unread": 0,
        "path": request.url.path})


def not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return _error_page(request, 404, "Page not found",
                       "We could not find that page. It may have moved, or the link may "
                       "be mistyped.", template="404.html")


def rate_limited(request: Request[Any, Any, Any], exc: RateLimited) -> Response[Any]:
    return _error_page(request, 429, "Slow down a little",
                       f"You have made a lot of requests in a short time. Please wait "
                       f"{exc.retry_after} seconds and try again.",
                       headers={"Retry-After": str(exc.retry_after)})


def degraded(request: Request[Any, Any, Any], exc: Degraded) -> Response[Any]:
    log.warning("page_degraded", path=request.url.path, detail=str(exc))
    return _error_page(request, 503, "Part of the shop is unavailable",
                       "Some of our systems are not answering right now. Your basket and "
                       "orders are safe; please try again in a minute.",
                       headers={"Retry-After": "30"})


def login_required(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    target = exc.next_path if request.method == "GET" else request.url.path
    return Redirect(f"/login?{urlencode({'next': safe_next(target)})}", status_code=303)


def api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    if exc.status == 404:
        return not_found(request, exc)
    return _error_page(request, exc.status, exc.title, exc.detail or "That did not work.")


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == 404:
        return not_found(request, exc)
    if status == 405:
        return _error_page(request, 405, "Not allowed", "That page cannot be used this way.")
    if isinstance(exc, NotAuthorizedException):
        return _error_page(request, 401, "Sign-in needed", "Please sign in.")
    if status == 403:
        return _error_page(request, 403, "Request refused", str(exc.detail))
    if status < 500:
        return _error_page(request, status, "That did not work",
                           "The request could not be understood. Please go back and try "
                           "again.")
    return internal(request, exc)


def internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("page_failed", path=request.url.path, error=type(exc).__name__)
    return _error_page(request, 500, "Something went wrong",
                       "We could not show this page. The problem has been logged; please "
                       "try again.")


def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if exc.status >= 500:
        return degraded(request, Degraded(exc.detail))
    return _error_page(request, exc.status, exc.title, exc.detail)


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Before every unsafe request: a same-origin post carrying the session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    scope = request.scope
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = header(scope, b"x-forwarded-host") or request.headers.get("host") or ""
        proto = "https" if is_https(scope) else "http"
        if origin != f"{proto}://{host}":
            raise PermissionDeniedException("This form was sent from another site.")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise PermissionDeniedException("This form was sent from another site.")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    shop = scope["state"]["shop"]
    if shop["new"] or not csrf_ok(shop["sid"], sent):
        raise PermissionDeniedException(
            "This form has expired or was not sent by this shop. Please reload the page and "
            "try again.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error,
    PageNotFound: not_found,
    RateLimited: rate_limited,
    Degraded: degraded,
    LoginRequired: login_required,
    ApiError: api_error,
    HTTPException: http_error,
    Exception: internal,
}
