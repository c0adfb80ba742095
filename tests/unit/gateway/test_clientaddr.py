"""Whose X-Forwarded-For the gateway believes, and which hop it takes."""

from __future__ import annotations

import pytest

from services.common.settings import ConfigError
from services.gateway.clientaddr import client_address, parse_trusted
from services.gateway.surface import load as load_surface

NGINX = parse_trusted("172.28.0.250")
INGRESS = parse_trusted("10.42.0.0/16, fd00::/8")


def test_nothing_is_trusted_by_default() -> None:
    assert parse_trusted("") == ()
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert client_address("198.51.100.7", ["203.0.113.9"], NGINX) == "198.51.100.7"


def test_the_right_most_hop_that_is_not_a_proxy_is_the_client() -> None:
    # The client sent "1.1.1.1" itself; nginx appended what it saw (203.0.113.9).
    assert client_address("172.28.0.250", ["1.1.1.1, 203.0.113.9"], NGINX) == "203.0.113.9"
    # Two trusted hops (ingress pods) in front of the gateway.
    assert client_address("10.42.1.5", ["9.9.9.9, 203.0.113.9, 10.42.3.3"],
                          INGRESS) == "203.0.113.9"
    assert client_address("10.42.1.5", ["9.9.9.9", "203.0.113.9:4711"],
                          INGRESS) == "203.0.113.9"
    assert client_address("10.42.1.5", ["[2001:db8::1]:443"], INGRESS) == "2001:db8::1"


def test_garbage_hops_count_as_the_proxy() -> None:
    assert client_address("172.28.0.250", ["1.1.1.1, not-an-ip"], NGINX) == "172.28.0.250"
    assert client_address("172.28.0.250", [""], NGINX) == "172.28.0.250"


@pytest.mark.parametrize("spec", ["*", "10.0.0.0/33", "nginx"])
def test_a_trust_list_that_would_trust_anyone_or_nothing_stops_start_up(spec: str) -> None:
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        parse_trusted(spec)


def test_cors_allowlist_and_internal_port_settings() -> None:
    s = load_surface({"GATEWAY_CORS_ORIGINS": "https://Shop.example/, http://localhost:3000"})
    assert s.cors_origins == {"https://shop.example", "http://localhost:3000"}
    assert s.internal_port == 9080
    assert load_surface({}).cors_origins == frozenset()
    for bad in ({"GATEWAY_CORS_ORIGINS": "*"}, {"GATEWAY_INTERNAL_PORT": "0"},
                {"GATEWAY_INTERNAL_PORT": "x"}):
        with pytest.raises(ConfigError):
            load_surface(bad)
