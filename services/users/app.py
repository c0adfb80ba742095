"""The users service: create_app() wires its routes, database and sidecar."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from services.common import audit
from services.common.app import build_app
from services.common.names import SECRETSTORE, USERS
from services.common.settings import Settings
from services.users import controllers, links_controller
from services.users import settings as users_settings
from services.users.outbox import OUTBOX
from services.users.security.tokens import TokenIssuer
from services.users.service import UsersService

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings) -> Litestar:
    config = users_settings.load()

    async def start(app: Litestar) -> None:
        sidecar = app.state.sidecar
        issuer = TokenIssuer(await sidecar.get_secret(SECRETSTORE, "jwt-private-key"),
                             await sidecar.get_secret(SECRETSTORE, "jwt-key-id"),
                             config.access_token_ttl_seconds)
        service = UsersService(app.state.db, sidecar, issuer, config)
        await service.passwords.dummy_hash()
        await service.ensure_admin(await sidecar.get_secret(SECRETSTORE, "admin-email"),
                                   await sidecar.get_secret(SECRETSTORE, "admin-password"))
        app.state.service = service

    return build_app(settings, migrations=MIGRATIONS, shared_migrations=(audit.MIGRATION,),
                     route_handlers=[*controllers.ROUTES, *links_controller.ROUTES,
                                     audit.audit_route(USERS)],
                     on_startup=[start], outbox=OUTBOX, title="users service",
                     description="Accounts, argon2id passwords, ES256 tokens and JWKS")
