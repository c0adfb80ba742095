"""ORDERS_REQUIRE_VERIFIED_EMAIL: an unverified account cannot order when it is on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.common.auth import Identity, identity_from_headers
from services.common.errors import Forbidden
from services.orders import settings
from services.orders.service import OrdersService


def test_off_by_default_and_read_from_the_environment() -> None:
    assert settings.load({}).require_verified_email is False
    assert settings.load({"ORDERS_REQUIRE_VERIFIED_EMAIL": "true"}).require_verified_email


@pytest.mark.parametrize("verified", [False, None])
async def test_an_unverified_caller_is_refused_before_anything_else(
        verified: bool | None) -> None:
    service = OrdersService(None, None, None,  # type: ignore[arg-type]  # never reached
                            settings.OrdersSettings(require_verified_email=True))
    who = Identity(user_id=uuid.uuid4(), role="customer", email="a@example.com",
                   email_verified=verified)
    with pytest.raises(Forbidden, match="Verify your e-mail"):
        await service.create(who, object(), None)  # type: ignore[arg-type]


def test_the_claim_travels_in_the_identity_headers() -> None:
    for verified in (True, False, None):
        who = Identity(user_id=uuid.uuid4(), role="customer", email_verified=verified)
        headers: dict[str, Any] = who.as_headers()
        assert identity_from_headers(headers) == who
