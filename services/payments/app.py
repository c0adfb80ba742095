"""The payments service: create_app() wires its routes, database, sidecar and provider."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common.app import build_app
from services.common.settings import Settings
from services.payments import controllers
from services.payments.provider import Provider, SandboxProvider
from services.payments.service import PaymentsService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings, provider: Provider | None = None) -> Litestar:
    """`provider` defaults to the deterministic sandbox (the only one configured today)."""
    chosen: Provider = provider or SandboxProvider()

    async def start(app: Litestar) -> None:
        app.state.service = PaymentsService(app.state.db, chosen)

    return build_app(settings, route_handlers=controllers.ROUTES, migrations=MIGRATIONS,
                     on_startup=[start], dependencies=controllers.DEPENDENCIES,
                     title="payments service",
                     description="Charges and refunds with idempotency (internal only).")
