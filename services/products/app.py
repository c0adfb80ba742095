"""The products service: create_app() wires its routes, database, cache, sidecar and the
drainer of its event outbox."""

from __future__ import annotations

from pathlib import Path

from dapr.aio.clients import DaprClient
from litestar import Litestar

from services.common import audit
from services.common.app import Hook, build_app
from services.common.names import PRODUCTS
from services.common.settings import Settings
from services.products import controllers, repository
from services.products.cache import ProductCache
from services.products.outbox import OUTBOX
from services.products.service import ProductsService

MIGRATIONS = Path(__file__).parent / "migrations"


def _hooks(settings: Settings) -> tuple[Hook, Hook]:
    async def start(app: Litestar) -> None:
        # The sidecar is ready (build_app waited for it), so the SDK's own wait is instant.
        app.state.dapr = DaprClient(address=f"127.0.0.1:{settings.dapr_grpc_port}")
        app.state.service = ProductsService(app.state.db, app.state.sidecar,
                                            ProductCache(app.state.dapr))
        await repository.prune_processed_events(app.state.db)

    async def stop(app: Litestar) -> None:
        service: ProductsService | None = app.state.get("service")
        if service is not None:
            await service.cache.aclose()
        if app.state.get("dapr") is not None:
            await app.state.dapr.close()

    return start, stop


def create_app(settings: Settings) -> Litestar:
    start, stop = _hooks(settings)
    return build_app(settings, migrations=MIGRATIONS, shared_migrations=(audit.MIGRATION,),
                     route_handlers=[*controllers.ROUTES, audit.audit_route(PRODUCTS)],
                     on_startup=[start], on_shutdown=[stop], outbox=OUTBOX,
                     dependencies=controllers.DEPENDENCIES,
                     title="products service",
                     description="The catalog: search, filters, pagination, a Dapr-backed cache.")
