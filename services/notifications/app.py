"""The notifications service: create_app() wires its routes, database, sidecar and templates."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common import audit
from services.common.app import build_app
from services.common.settings import Settings
from services.notifications import controllers, redelivery
from services.notifications import settings as notifications_settings
from services.notifications.rendering import Renderer
from services.notifications.service import NotificationsService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> Litestar:
    config = notifications_settings.load()  # a bad NOTIFICATIONS_* value stops start-up
    renderer = Renderer(shop_url=config.shop_url)

    async def start(app: Litestar) -> None:
        app.state.service = NotificationsService(app.state.db, app.state.sidecar, renderer,
                                                 config)

    return build_app(settings, migrations=MIGRATIONS, shared_migrations=(audit.MIGRATION,),
                     route_handlers=[*controllers.ROUTES, *redelivery.ROUTES],
                     on_startup=[start], dependencies=controllers.DEPENDENCIES,
                     title="notifications service",
                     description="E-mails for account and order events, and the feed of them.")
