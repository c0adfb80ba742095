"""Typed, frozen settings read once from the environment; missing values fail at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What every service needs to know about its own process and its sidecar."""

    app_id: str
    port: int
    host: str = "127.0.0.1"
    dapr_http_port: int
    dapr_grpc_port: int
    # Sent by daprd to the app on every call (APP_API_TOKEN); the app refuses calls without it.
    app_api_token: str
    # Sent by the app to daprd (DAPR_API_TOKEN); daprd refuses calls without it.
    dapr_api_token: str
    log_level: str = "INFO"

    @property
    def dapr_http_url(self) -> str:
        return f"http://127.0.0.1:{self.dapr_http_port}"


def _required(env: dict[str, str], name: str) -> str:
    # Without the tokens the guard that admits only the app's own sidecar would be off.
    if not env.get(name):
        raise ConfigError(f"{name} is not set: the app and its daprd need the same value "
                          "(scripts/stack.py and scripts/dapr-run.sh set it from the secret store)")
    return env[name]


def _int(env: dict[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ConfigError(f"{name} is not set (is the service running under its Dapr sidecar?)")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def load(app_id: str, default_port: int, env: dict[str, str] | None = None) -> Settings:
    """Read the settings of `app_id` from the environment, failing fast on what is missing."""
    env = dict(os.environ) if env is None else env
    return Settings(
        app_id=env.get("APP_ID", app_id),
        port=_int(env, "APP_PORT", default_port),
        host=env.get("APP_HOST", "127.0.0.1"),
        dapr_http_port=_int(env, "DAPR_HTTP_PORT"),
        dapr_grpc_port=_int(env, "DAPR_GRPC_PORT"),
        app_api_token=_required(env, "APP_API_TOKEN"),
        dapr_api_token=_required(env, "DAPR_API_TOKEN"),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
    )


_S = TypeVar("_S", bound=msgspec.Struct)


def env_name(prefix: str, field: str) -> str:
    """The variable that sets `field`: `<PREFIX>_<FIELD>`, or `<FIELD>` without a prefix."""
    return f"{prefix}_{field}".upper() if prefix else field.upper()


def from_env(cls: type[_S], prefix: str, env: Mapping[str, str] | None = None) -> _S:
    """The one way a service reads its own settings: `cls` is a frozen Struct whose fields
    all have defaults and whose types (with msgspec.Meta bounds) say what is valid; each
    field can be set by its variable (`env_name`). A value that is malformed or out of
    bounds stops start-up with a ConfigError naming the variable."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(cls):
        name = env_name(prefix, field.name)
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[field.name] = msgspec.convert(raw.strip(), field.type, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{name}: {exc}, got {raw!r}") from None
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # a check across fields in __post_init__
        raise ConfigError(str(exc)) from None


def positive_int_overrides(cls: type[_S], prefix: str, env: dict[str, str] | None = None) -> _S:
    """`from_env` for a Struct of int fields that must all be positive."""
    loaded = from_env(cls, prefix, env)
    for field in msgspec.structs.fields(cls):
        value = getattr(loaded, field.name)
        if isinstance(value, int) and value <= 0:
            raise ConfigError(f"{env_name(prefix, field.name)} must be positive, got {value}")
    return loaded
