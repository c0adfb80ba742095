"""Rate-limit rules: parsing, defaults, matching order (the counting runs against the real
statestore in tests/integration/test_gateway.py)."""

from __future__ import annotations

import pytest

from services.common.settings import ConfigError
from services.gateway.ratelimit import RateLimiter, Rule, load_settings, parse_rules


def test_defaults_cover_reads_and_writes_of_the_public_api() -> None:
    settings = load_settings({})
    assert settings.enabled
    assert [r.name for r in settings.rules] == ["read", "write"]
    read, write = settings.rules
    assert read.limit > write.limit  # writes are stricter
    assert read.matches("GET", "/api/products") and not read.matches("POST", "/api/orders")
    assert write.matches("POST", "/api/orders") and write.matches("DELETE", "/api/products/x")
    assert not write.matches("GET", "/health")  # only /api/* is limited


def test_env_overrides_and_extra_rules_come_first() -> None:
    settings = load_settings({"RATE_LIMIT_READ": "10/1", "RATE_LIMIT_WRITE": "2/60",
                              "RATE_LIMIT_RULES": "login POST /api/users/login 5/300; "
                                                  "probe * /api/*/health 3/10",
                              "RATE_LIMIT_SYNC_SECONDS": "0.5"})
    limiter = RateLimiter(None, settings)  # type: ignore[arg-type]  # no I/O here
    login = limiter.rule_for("POST", "/api/users/login")
    assert login is not None and (login.name, login.limit, login.window) == ("login", 5, 300)
    probe = limiter.rule_for("HEAD", "/api/orders/health")
    assert probe is not None and probe.name == "probe"
    read = limiter.rule_for("GET", "/api/users/login")
    assert read is not None and (read.name, read.limit, read.window) == ("read", 10, 1)
    assert limiter.rule_for("GET", "/docs") is None
    assert settings.sync_interval == 0.5


@pytest.mark.parametrize("env", [
    {"RATE_LIMIT_READ": "lots"}, {"RATE_LIMIT_WRITE": "0/60"}, {"RATE_LIMIT_READ": "5/-1"},
    {"RATE_LIMIT_RULES": "only three fields"}, {"RATE_LIMIT_RULES": "x GET /api/* 5"},
    {"RATE_LIMIT_SYNC_SECONDS": "soon"},
])
def test_malformed_settings_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)


def test_can_be_switched_off() -> None:
    assert not load_settings({"RATE_LIMIT_ENABLED": "0"}).enabled


def test_methods_are_case_insensitive_in_the_spec() -> None:
    (rule,) = parse_rules("w post,put /api/orders* 1/1")
    assert rule.methods == frozenset({"POST", "PUT"})
    assert rule.matches("PUT", "/api/orders/123") and not rule.matches("GET", "/api/orders")


def test_state_keys_name_rule_client_and_window() -> None:
    rule = Rule("read", None, "/api/*", 1, 60)
    assert RateLimiter.state_key(rule, "198.51.100.1", 42) == "ratelimit|read|198.51.100.1|42"
