"""The basket service: create_app() wires its routes, its sidecar, the state store and the
catalog look-ups. It has no database: baskets live in the Dapr `statestore` component."""

from __future__ import annotations

from litestar import Litestar

from services.basket import controllers
from services.basket import settings as basket_settings
from services.basket.catalog import Catalog
from services.basket.service import Baskets
from services.basket.store import BasketStore
from services.common.app import build_app
from services.common.settings import Settings


def create_app(settings: Settings) -> Litestar:
    conf = basket_settings.load()

    async def start(app: Litestar) -> None:
        sidecar = app.state.sidecar
        app.state.baskets = Baskets(BasketStore(sidecar), Catalog(sidecar), sidecar, conf)

    return build_app(settings, route_handlers=controllers.ROUTES, on_startup=[start],
                     title="basket service",
                     description="One basket per shopper (guest or signed in), kept in Dapr "
                                 "state and checked out into an order.")
