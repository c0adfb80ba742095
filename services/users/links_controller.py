"""HTTP routes of the account links: verify the e-mail address, reset a forgotten password."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.di import Provide

from services.common.app import provide_service
from services.common.auth import Identity, provide_identity
from services.users.controllers import provide_client_ip
from services.users.schemas import Email, Password, UserRead
from services.users.service import UsersService

Token = Annotated[str, msgspec.Meta(min_length=20, max_length=100,
                                    description="The token of the link in the e-mail")]
SENT = "If the address has an account, an e-mail with a link is on its way"


class LinkUse(msgspec.Struct, forbid_unknown_fields=True):
    token: Token


class PasswordResetCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class PasswordResetConfirm(msgspec.Struct, forbid_unknown_fields=True):
    token: Token
    password: Password


class LinkSent(msgspec.Struct):
    status: str = SENT


class AccountLinksController(Controller):
    path = "/api/users"
    tags = ["users"]
    dependencies = {
        "service": provide_service(UsersService),
        "client_ip": Provide(provide_client_ip, sync_to_thread=False),
        "identity": Provide(provide_identity),
    }

    @post("/verify-email", status_code=200)
    async def verify_email(self, data: LinkUse, service: UsersService) -> UserRead:
        """Use the link of the verification e-mail (once, before it expires): the account's
        `email_verified` becomes true. 422 for a link that is unknown, used or expired."""
        return await service.verify_email(data.token)

    @post("/verify-email/resend", status_code=202)
    async def resend_verification(self, identity: Identity, service: UsersService) -> LinkSent:
        """Send a new verification link to the caller (the older one stops working)."""
        await service.resend_verification(identity)
        return LinkSent(status="An e-mail with a new link is on its way")

    @post("/password-reset", status_code=202)
    async def request_password_reset(self, data: PasswordResetCreate, service: UsersService,
                                     client_ip: str) -> Response[LinkSent]:
        """Ask for a password-reset link (valid 30 minutes, single use). The answer is the
        same whether or not the address has an account; limited per address and e-mail."""
        await service.request_password_reset(data.email, client_ip)
        return Response(LinkSent(), status_code=202, background=BackgroundTask(
            service.send_password_reset, data.email))

    @post("/password-reset/confirm", status_code=204)
    async def reset_password(self, data: PasswordResetConfirm, service: UsersService) -> None:
        """Set a new password with the link's token; every session of the account ends."""
        await service.reset_password(data.token, data.password)


ROUTES: list[Any] = [AccountLinksController]
