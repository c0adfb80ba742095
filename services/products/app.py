"""The products service: create_app() wires its routes, database, cache and sidecar."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.app import build_app
from services.common.settings import Settings
from services.products import controllers, repository
from services.products.cache import ProductCache
from services.products.service import Catalog

MIGRATIONS = Path(__file__).parent / "migrations"


async def _start(app: Litestar) -> None:
    app.state.catalog = Catalog(app.state.db, app.state.sidecar, ProductCache(app.state.sidecar))
    await repository.prune_processed_events(app.state.db)


def create_app(settings: Settings) -> Litestar:
    return build_app(settings, route_handlers=controllers.ROUTES, migrations=MIGRATIONS,
                     on_startup=[_start], dependencies=controllers.DEPENDENCIES,
                     title="products service",
                     description="The catalog: search, filters, pagination, a Dapr-backed cache.")
