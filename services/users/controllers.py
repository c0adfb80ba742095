"""HTTP routes of the users service (public paths under /api/users, reached via the gateway)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.params import Parameter

from services.common import text
from services.common.app import provide_service
from services.common.auth import Identity, Role, provide_admin, provide_identity
from services.common.contracts.internal import JwkSet
from services.common.errors import DomainError
from services.common.names import HEADER_CLIENT_IP
from services.common.openapi import link
from services.users.schemas import (
    ProfileUpdate,
    SessionCreate,
    SessionRead,
    SessionUpdate,
    UserCreate,
    UserPage,
    UserRead,
    UserRoleUpdate,
)
from services.users.service import UsersService

# What a client does with a session (OpenAPI links): the access token reads the profile,
# the refresh token rotates or ends the session.
_BEARER = "Bearer {$response.body#/token}"
SESSION_LINKS = {
    "GetProfile": link("GET", "/api/users/profile", "The account",
                       **{"header.Authorization": _BEARER}),
    "Refresh": link("POST", "/api/users/refresh", "Rotate the refresh token",
                    body={"refresh_token": "$response.body#/refresh_token"}),
    "Logout": link("POST", "/api/users/logout", "End the session",
                   body={"refresh_token": "$response.body#/refresh_token"}),
}


class UnsupportedMediaType(DomainError):
    status, title = 415, "Unsupported media type"


async def require_json(request: Request[Any, Any, Any]) -> None:
    """Every body this service reads is JSON; anything else is refused before decoding."""
    if request.method in ("POST", "PUT", "PATCH"):
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType("Send the body as application/json")


def provide_client_ip(request: Request[Any, Any, Any]) -> str:
    """The caller's address as the gateway saw it (calls only arrive through Dapr)."""
    return request.headers.get(HEADER_CLIENT_IP) or "unknown"


class UsersController(Controller):
    path = "/api/users"
    tags = ["users"]
    before_request = require_json  # type: ignore[assignment]  # Litestar unbinds it
    dependencies = {
        "service": provide_service(UsersService),
        "client_ip": Provide(provide_client_ip, sync_to_thread=False),
        "identity": Provide(provide_identity),
        "admin": Provide(provide_admin),
    }

    @post("/register", status_code=201, conflict="An account with this e-mail already exists",
          links=SESSION_LINKS)
    async def register(self, data: UserCreate, service: UsersService,
                       client_ip: str) -> SessionRead:
        """Create a customer account; answers the user with an access and a refresh token."""
        return await service.register(data, client_ip)

    @post("/login", status_code=200, links=SESSION_LINKS)
    async def login(self, data: SessionCreate, service: UsersService,
                    client_ip: str) -> SessionRead:
        """Exchange e-mail and password for tokens; 401 on bad credentials, 429 when limited."""
        return await service.login(data, client_ip)

    @post("/refresh", status_code=200, links=SESSION_LINKS)
    async def refresh(self, data: SessionUpdate, service: UsersService) -> SessionRead:
        """Rotate a refresh token: the old one stops working, reusing it ends the session."""
        return await service.refresh(data.refresh_token)

    @post("/logout", status_code=204)
    async def logout(self, data: SessionUpdate, service: UsersService) -> None:
        """Revoke the session of a refresh token (idempotent)."""
        await service.logout(data.refresh_token)

    @get("/profile")
    async def profile(self, identity: Identity, service: UsersService) -> UserRead:
        """The caller's account."""
        return await service.get(identity.user_id)

    @patch("/profile")
    async def update_profile(self, data: ProfileUpdate, identity: Identity,
                             service: UsersService) -> UserRead:
        """Change the name and/or the password (the latter needs `current_password`)."""
        return await service.update_profile(identity, data)

    @get("/")
    async def list_users(
        self, admin: Identity, service: UsersService,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
        search: Annotated[str | None, Parameter(
            max_length=254, pattern=text.NO_NUL,
            description="Part of the e-mail or the name")] = None,
        role: Role | None = None,
    ) -> UserPage:
        """Every account, oldest first, or those matching `search` and `role` (admin)."""
        return await service.list_users(page, page_size, search, role)

    @patch("/{user_id:uuid}/role", conflict="Admins cannot change their own role")
    async def set_role(self, user_id: uuid.UUID, data: UserRoleUpdate, admin: Identity,
                       service: UsersService) -> UserRead:
        """Promote or demote an account (admin)."""
        return await service.set_role(admin, user_id, data.role)

    @get("/.well-known/jwks.json", cache_control=CacheControlHeader(max_age=300, public=True))
    async def jwks(self, service: UsersService) -> JwkSet:
        """The public keys that verify access tokens."""
        return service.issuer.jwks


ROUTES: list[Any] = [UsersController]
