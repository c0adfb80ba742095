"""The notifications service: create_app() wires its routes, database, sidecar and templates."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from services.common.app import build_app
from services.common.settings import Settings
from services.notifications import controllers, redelivery
from services.notifications.service import Notifier, Renderer, load_config

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> Litestar:
    config = load_config()  # fail fast on a bad NOTIFICATIONS_MAX_ATTEMPTS
    renderer = Renderer()

    def provide_notifier(state: State) -> Notifier:
        return Notifier(state.db, state.sidecar, renderer, config)

    return build_app(settings, migrations=MIGRATIONS,
                     route_handlers=[*controllers.ROUTES, *redelivery.ROUTES],
                     dependencies={"notifier": Provide(provide_notifier, sync_to_thread=False)},
                     title="notifications service",
                     description="E-mails for account and order events, and the feed of them.")
