"""The caller's identity inside a service, as verified and forwarded by the gateway.

The gateway strips the identity headers from every client request, verifies the bearer
token and sets them again; the services accept calls only from their sidecar (the
`dapr-api-token` check in services.common.app), so the headers cannot be forged.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Request

from services.common.errors import Forbidden, Unauthorized
from services.common.names import (
    HEADER_USER_EMAIL,
    HEADER_USER_EMAIL_VERIFIED,
    HEADER_USER_ID,
    HEADER_USER_ROLE,
)

Role = Literal["customer", "admin"]
ROLES: tuple[Role, ...] = ("customer", "admin")


class Identity(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    role: Role
    email: str | None = None
    # From the token's `email_verified` claim; None when the token does not say.
    email_verified: bool | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_headers(self) -> dict[str, str]:
        headers = {HEADER_USER_ID: str(self.user_id), HEADER_USER_ROLE: self.role}
        if self.email:
            headers[HEADER_USER_EMAIL] = self.email
        if self.email_verified is not None:
            headers[HEADER_USER_EMAIL_VERIFIED] = "1" if self.email_verified else "0"
        return headers


def identity_from_headers(headers: Any) -> Identity | None:
    raw_id, role = headers.get(HEADER_USER_ID), headers.get(HEADER_USER_ROLE)
    if not raw_id or role not in ROLES:
        return None
    try:
        user_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    verified = headers.get(HEADER_USER_EMAIL_VERIFIED)
    return Identity(user_id=user_id, role=role, email=headers.get(HEADER_USER_EMAIL),
                    email_verified=None if verified is None else verified == "1")


async def provide_identity(request: Request[Any, Any, Any]) -> Identity:
    """Dependency: the authenticated caller, or 401."""
    ident = identity_from_headers(request.headers)
    if ident is None:
        raise Unauthorized()
    return ident


async def provide_admin(request: Request[Any, Any, Any]) -> Identity:
    """Dependency: an authenticated admin; 401 without a token, 403 with the wrong role."""
    ident = await provide_identity(request)
    if not ident.is_admin:
        raise Forbidden("This action needs the admin role")
    return ident
