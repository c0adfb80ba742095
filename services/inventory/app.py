"""The inventory service: create_app() wires its routes, database, sidecar and the sweeper
that releases expired reservations."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog
from litestar import Litestar

from services.common import audit
from services.common.app import build_app
from services.common.names import INVENTORY
from services.common.settings import Settings
from services.inventory import controllers
from services.inventory import settings as inventory_settings
from services.inventory.service import OUTBOX, InventoryService

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger(__name__)


async def sweep_forever(inventory: InventoryService, interval: float) -> None:
    """Release expired reservations every `interval` seconds; errors never stop the loop."""
    while True:
        try:
            while await inventory.expire_due() > 0:
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reservation_sweep_failed")
        await asyncio.sleep(interval)


def create_app(settings: Settings) -> Litestar:
    conf = inventory_settings.load()

    async def start(app: Litestar) -> None:
        app.state.service = InventoryService(app.state.db, app.state.sidecar,
                                             conf.reservation_ttl)
        app.state.sweeper = asyncio.create_task(
            sweep_forever(app.state.service, conf.sweep_interval_seconds),
            name="reservation-sweeper")

    async def stop(app: Litestar) -> None:
        task: asyncio.Task[None] | None = app.state.get("sweeper")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return build_app(settings, migrations=MIGRATIONS, shared_migrations=(audit.MIGRATION,),
                     route_handlers=[*controllers.ROUTES, audit.audit_route(INVENTORY)],
                     on_startup=[start], on_shutdown=[stop], outbox=OUTBOX,
                     dependencies=controllers.DEPENDENCIES, title="inventory service",
                     description="Stock per product and reservations that never oversell.")
