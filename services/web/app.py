"""The storefront: server-rendered pages (Jinja2) over the platform's public API.

Routes live in routes/<area>.py (catalog, basket, orders, account, media), templates in
templates/ (base.html is the layout), static files (CSS, the small progressive-enhancement
script) in static/, served at /static with a content hash in the URL. The gateway forwards
every path outside /api, /health, /docs and /openapi.json here through Dapr.
"""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from services.common.app import SidecarOnlyGuard, build_app
from services.common.settings import Settings
from services.web import admin, pages
from services.web.middleware import SessionMiddleware
from services.web.routes import account, account_links, basket, catalog, media, orders


def create_app(settings: Settings) -> Litestar:
    shop = Router(path="/", route_handlers=[*catalog.ROUTES, *basket.ROUTES, *orders.ROUTES,
                                            *account.ROUTES, *account_links.ROUTES],
                  dependencies={"shopper": Provide(pages.provide_shopper)},
                  before_request=pages.check_csrf, include_in_schema=False)
    static = create_static_files_router(
        path="/static", directories=[pages.STATIC], include_in_schema=False,
        # Pages link each file with its content hash (?v=...): safe to keep for a year.
        cache_control=CacheControlHeader(public=True, max_age=31_536_000),
        send_as_attachment=False)
    app = build_app(settings, route_handlers=[shop, admin.router(), static, *media.ROUTES],
                    exception_handlers=pages.EXCEPTION_HANDLERS,
                    template_config=pages.template_config(),
                    title="ecommerce storefront")
    # Just inside the sidecar guard: the session cookie and the security headers.
    if isinstance(app.asgi_handler, SidecarOnlyGuard):
        app.asgi_handler.app = SessionMiddleware(app.asgi_handler.app)
    else:
        app.asgi_handler = SessionMiddleware(app.asgi_handler)
    return app
