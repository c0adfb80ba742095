"""The orders service: create_app() wires its routes, database, sidecar and the checkout
workflow's runtime."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common import audit
from services.common.app import build_app
from services.common.settings import Settings
from services.orders import admin, controllers
from services.orders import settings as orders_settings
from services.orders.checkout import runtime
from services.orders.outbox import OUTBOX
from services.orders.service import OrdersService

MIGRATIONS = Path(__file__).parent / "migrations"


async def start(app: Litestar) -> None:
    await runtime.start(app)
    app.state.service = OrdersService(app.state.db, app.state.sidecar,
                                      app.state.workflow_client, app.state.orders_settings)


def create_app(settings: Settings) -> Litestar:
    config = orders_settings.load()  # a malformed ORDERS_* value stops start-up

    async def keep_settings(app: Litestar) -> None:
        app.state.orders_settings = config

    return build_app(settings, migrations=MIGRATIONS, shared_migrations=(audit.MIGRATION,),
                     route_handlers=[*controllers.ROUTES, *admin.ROUTES],
                     on_startup=[keep_settings, start], on_shutdown=[runtime.stop], outbox=OUTBOX,
                     title="orders service",
                     description="Orders, their status history and the checkout saga "
                                 "(a Dapr Workflow).")
