"""What every admin page shares: who may see it, how it calls the API, how it renders.

Anyone who is not a signed-in admin gets the storefront's 404 page for every /admin URL,
GET or POST, before anything else runs (no hint that the console exists). The API checks
the role again on every call (the gateway verifies the token, each service its admin
routes), and a 403 from it, for an admin demoted meanwhile, is the same 404 page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.response import Template

from services.web.pages import check_csrf, render, shopper_of
from services.web.platform import ApiError, PageNotFound, Shopper

PAGE_SIZE = 20

NAV = (
    ("/admin", "Dashboard"),
    ("/admin/products", "Products"),
    ("/admin/orders", "Orders"),
    ("/admin/customers", "Customers"),
    ("/admin/dead-letters", "Dead letters"),
    ("/admin/audit", "Audit trail"),
)


async def admin_only(request: Request[Any, Any, Any]) -> None:
    """before_request of the /admin router: the 404 page for anyone but an admin, then the
    storefront's CSRF check for every form post."""
    user = await shopper_of(request).user()
    if user is None or user.role != "admin":
        raise PageNotFound(request.url.path)
    await check_csrf(request)


async def api(shopper: Shopper, method: str, path: str, *, json: Any = None,
              params: Mapping[str, str] | None = None) -> Any:
    """Call the API as the admin; a 403 means they are no longer one: the 404 page."""
    try:
        return await shopper.api(method, path, json=json, params=params)
    except ApiError as exc:
        if exc.status == 403:
            raise PageNotFound(path) from exc
        raise


async def page(shopper: Shopper, name: str, *, status: int = 200, **context: Any) -> Template:
    """Render templates/admin/<name> with the console's navigation."""
    path = shopper.request.url.path
    current = max((href for href, _ in NAV if path == href or path.startswith(href + "/")),
                  key=len, default="/admin")
    return await render(shopper, f"admin/{name}", status=status, counts=False,
                        admin_nav=NAV, admin_current=current, **context)


def page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def pages(total: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / page_size))


def clean(raw: str | None, limit: int = 200) -> str:
    """A query or form value as text: trimmed, bounded, no NUL."""
    return (raw or "").replace("\x00", "").strip()[:limit]
