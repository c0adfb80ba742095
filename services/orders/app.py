"""The orders service: create_app() wires its routes, database and sidecar."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.app import build_app
from services.common.settings import Settings
from services.orders import controllers, workflow
from services.orders.outbox import OUTBOX

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> Litestar:
    return build_app(settings, route_handlers=controllers.ROUTES, migrations=MIGRATIONS,
                     on_startup=[workflow.start], on_shutdown=[workflow.stop],
                     outbox=OUTBOX,
                     title="orders service",
                     description="Orders, their status history and the checkout saga "
                                 "(a Dapr Workflow).")
