"""Request and response shapes. Inputs reject unknown fields, so no request can set a
role, an id or a timestamp."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from services.common import text
from services.common.errors import InvalidInput
from services.users.security.passwords import MAX_LENGTH, MIN_LENGTH

Password = Annotated[str, msgspec.Meta(min_length=MIN_LENGTH, max_length=MAX_LENGTH,
                                       description="8 to 128 characters")]
# Login takes any string up to the maximum so a wrong guess never reveals the rules.
LoginPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LENGTH)]
# Deliberately simple: one @, no spaces, a dot in the domain, surrounding spaces ignored.
# Deliverability is the mail server's question, not a regular expression's. The OpenAPI
# document carries the same pattern (spaces spelled out: services.common.text).
_WS = text.WHITESPACE
# No control character either: the address travels in headers (x-user-email) and e-mails.
_NOT = rf"@\x00-\x1f\x7f-\x9f{_WS}"
EMAIL_PATTERN = rf"^[{_WS}]*[^{_NOT}]{{1,64}}@[^{_NOT}.]+(\.[^{_NOT}.]+)+[{_WS}]*$"
_EMAIL = re.compile(EMAIL_PATTERN)
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254,
                                    extra_json_schema={"extra": {"pattern": EMAIL_PATTERN}})]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                   extra_json_schema={"extra": {"pattern": text.NOT_BLANK}})]


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def valid_email(raw: str) -> str:
    email = normalise_email(raw)
    if not _EMAIL.fullmatch(raw):
        raise InvalidInput("email: not a valid e-mail address",
                           errors=[{"field": "email", "message": "not a valid e-mail address"}])
    return email


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("name: must not be blank",
                           errors=[{"field": "name", "message": "must not be blank"}])
    return name


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    name: Name


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    password: LoginPassword


class SessionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """POST /refresh (rotate) and /logout (end): the refresh token naming the session."""

    # The shape services.users.security.tokens.new_refresh_token gives ("rt_" + base64url).
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                               pattern=r"^[A-Za-z0-9_-]+$")]


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    password: Password | None = None
    current_password: LoginPassword | None = None


class UserRoleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["customer", "admin"]


class UserRead(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    created_at: datetime
    updated_at: datetime
    # Whether the address was proven by a link sent to it (services/users/links.py).
    email_verified: bool = False


class SessionRead(msgspec.Struct):
    user: UserRead
    token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)


class UserPage(msgspec.Struct):
    items: list[UserRead]
    total: int
    page: int
    page_size: int
