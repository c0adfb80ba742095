"""The inventory service: create_app() wires its routes, database and sidecar."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.app import build_app
from services.common.settings import Settings
from services.inventory import controllers

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> Litestar:
    return build_app(settings, route_handlers=controllers.ROUTES, migrations=MIGRATIONS,
                     title="inventory service")
