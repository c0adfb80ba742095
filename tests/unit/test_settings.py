from __future__ import annotations

import pytest

from services.common.settings import ConfigError, load


def test_settings_fail_fast_without_the_sidecar_ports() -> None:
    with pytest.raises(ConfigError, match="DAPR_HTTP_PORT"):
        load("users", 3001, env={})


def test_settings_reject_a_malformed_port() -> None:
    with pytest.raises(ConfigError, match="APP_PORT"):
        load("users", 3001, env={"APP_PORT": "x", "DAPR_HTTP_PORT": "1", "DAPR_GRPC_PORT": "2"})


def test_settings_are_typed_and_frozen() -> None:
    s = load("users", 3001, env={"DAPR_HTTP_PORT": "13001", "DAPR_GRPC_PORT": "23001"})
    assert (s.port, s.dapr_http_port, s.app_api_token) == (3001, 13001, None)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
