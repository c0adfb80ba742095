"""Typed settings and input rules of the users service (no stack needed)."""

from __future__ import annotations

import msgspec
import pytest

from services.common.errors import InvalidInput
from services.common.settings import ConfigError
from services.users import settings
from services.users.schemas import ProfileUpdate, UserCreate, valid_email


def test_defaults_and_overrides() -> None:
    assert settings.load({}).access_token_ttl_seconds == 900
    loaded = settings.load({"USERS_RATE_WINDOW_SECONDS": "5",
                            "USERS_LOGIN_FAILURES_PER_ACCOUNT": "3"})
    assert loaded.rate_window_seconds == 5 and loaded.login_failures_per_account == 3


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_bad_values_fail_fast(value: str) -> None:
    with pytest.raises(ConfigError):
        settings.load({"USERS_RATE_WINDOW_SECONDS": value})


def test_emails_are_normalised_and_checked() -> None:
    assert valid_email("  Ada@Example.COM ") == "ada@example.com"
    for bad in ("ada", "ada@", "@example.com", "a b@example.com", "ada@example", "a@b@c.d"):
        with pytest.raises(InvalidInput):
            valid_email(bad)


def test_inputs_reject_unknown_fields_and_oversized_passwords() -> None:
    with pytest.raises(msgspec.ValidationError, match="role"):
        msgspec.json.decode(b'{"email":"a@b.co","password":"12345678","name":"A","role":"admin"}',
                            type=UserCreate)
    with pytest.raises(msgspec.ValidationError, match="length"):
        msgspec.json.decode(b'{"email":"a@b.co","password":"' + b"x" * 129 + b'","name":"A"}',
                            type=UserCreate)
    with pytest.raises(msgspec.ValidationError, match="role"):
        msgspec.json.decode(b'{"role":"admin"}', type=ProfileUpdate)
