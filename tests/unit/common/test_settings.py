from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from services.common.settings import ConfigError, from_env, load


def test_settings_fail_fast_without_the_sidecar_ports() -> None:
    with pytest.raises(ConfigError, match="DAPR_HTTP_PORT"):
        load("users", 3001, env={})


def test_settings_reject_a_malformed_port() -> None:
    with pytest.raises(ConfigError, match="APP_PORT"):
        load("users", 3001, env={"APP_PORT": "x", "DAPR_HTTP_PORT": "1", "DAPR_GRPC_PORT": "2"})


SIDECAR = {"DAPR_HTTP_PORT": "13001", "DAPR_GRPC_PORT": "23001", "APP_API_TOKEN": "a",
           "DAPR_API_TOKEN": "d"}


@pytest.mark.parametrize("name", ["APP_API_TOKEN", "DAPR_API_TOKEN"])
def test_settings_refuse_to_start_without_the_api_tokens(name: str) -> None:
    """Under a runner that does not set them (the Dapr CLI without scripts/dapr-run.sh),
    the guard that admits only the app's own sidecar would silently be off."""
    with pytest.raises(ConfigError, match=name):
        load("users", 3001, env={k: v for k, v in SIDECAR.items() if k != name})


def test_settings_are_typed_and_frozen() -> None:
    s = load("users", 3001, env=SIDECAR)
    assert (s.port, s.dapr_http_port, s.app_api_token) == (3001, 13001, "a")
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


class _Knobs(msgspec.Struct, frozen=True, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    ratio: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    enabled: bool = True
    name: str = "x"


def test_a_service_reads_its_typed_settings_from_prefixed_variables() -> None:
    assert from_env(_Knobs, "SVC", {}) == _Knobs()
    got = from_env(_Knobs, "SVC", {"SVC_LIMIT": " 7 ", "SVC_RATIO": "2.5", "SVC_ENABLED": "0",
                                   "SVC_NAME": "y", "LIMIT": "9"})
    assert got == _Knobs(limit=7, ratio=2.5, enabled=False, name="y")
    assert from_env(_Knobs, "", {"LIMIT": "9"}).limit == 9


@pytest.mark.parametrize(("variable", "value"), [
    ("SVC_LIMIT", "many"), ("SVC_LIMIT", "0"), ("SVC_LIMIT", "11"), ("SVC_RATIO", "0"),
    ("SVC_ENABLED", "perhaps"),
])
def test_a_bad_value_stops_start_up_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: .*{value!r}"):
        from_env(_Knobs, "SVC", {variable: value})
