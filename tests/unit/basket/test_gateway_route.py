"""What the gateway does for the basket: route /api/basket, pass the guest token on, and
never answer a request carrying one from its edge cache."""

from __future__ import annotations

from services.common.names import BACKEND_APPS, BASKET, HEADER_BASKET_TOKEN
from services.gateway.edgecache import wants_bypass
from services.gateway.proxy import FORWARD_REQUEST


def test_the_gateway_routes_basket_and_passes_its_token() -> None:
    assert BASKET in BACKEND_APPS
    assert HEADER_BASKET_TOKEN.encode() in FORWARD_REQUEST


def test_a_basket_token_is_a_credential_for_the_edge_cache() -> None:
    assert wants_bypass({HEADER_BASKET_TOKEN.encode(): b"t" * 43})
    assert not wants_bypass({b"accept": b"application/json"})
