"""The back office at /admin: dashboard, products, orders, customers, dead letters and the
audit trail, for admins only (everyone else gets the storefront's 404 page).

It runs in the storefront's app and reuses its session, CSRF check, layout and API client:
the admin's own token goes with every call, so each service enforces (and records) what an
admin may do; the console holds no privilege of its own.
"""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from services.web import pages
from services.web.admin import audit, common, customers, dashboard, deadletters, orders, products


def router() -> Router:
    return Router(path="/admin", route_handlers=[
        *dashboard.ROUTES, *products.ROUTES, *orders.ROUTES, *customers.ROUTES,
        *deadletters.ROUTES, *audit.ROUTES],
        dependencies={"shopper": Provide(pages.provide_shopper)},
        before_request=common.admin_only, include_in_schema=False)
