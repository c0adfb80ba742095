"""The gateway's split between its own paths and the storefront's, and whom it believes
about the shopper's address and scheme."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from services.gateway.clientaddr import ClientAddress
from services.gateway.proxy import shopper_address
from services.gateway.web import owned_by_gateway

TOKEN = "app-token"


@pytest.mark.parametrize(("path", "gateway"), [
    ("/api", True), ("/api/products", True), ("/health", True), ("/health/live", True),
    ("/docs", True), ("/docs/assets/x.js", True), ("/openapi.json", True),
    ("/metrics", True), ("/schema/openapi.json", True),
    ("/", False), ("/products", False), ("/apiary", False), ("/healthy", False),
    ("/static/shop.css", False), ("/media/products/x.webp", False), ("/admin", False),
])
def test_paths(path: str, gateway: bool) -> None:
    assert owned_by_gateway(path) is gateway


def scope(**headers: str) -> dict[str, Any]:
    return {"type": "http", "headers": [(k.replace("_", "-").encode(), v.encode())
                                        for k, v in headers.items()]}


def test_the_shopper_address_comes_from_the_web_app_through_the_sidecar_only() -> None:
    good = scope(dapr_api_token=TOKEN, dapr_caller_app_id="web", x_client_ip="203.0.113.9")
    assert shopper_address(good, TOKEN) == "203.0.113.9"
    # A client talking to the gateway directly cannot name itself.
    assert shopper_address(scope(x_client_ip="203.0.113.9", dapr_caller_app_id="web"),
                           TOKEN) is None
    assert shopper_address(scope(dapr_api_token="guess", dapr_caller_app_id="web",
                                 x_client_ip="203.0.113.9"), TOKEN) is None
    # Another app through the sidecar is not the storefront.
    assert shopper_address(scope(dapr_api_token=TOKEN, dapr_caller_app_id="orders",
                                 x_client_ip="203.0.113.9"), TOKEN) is None
    assert shopper_address(good, None) is None


async def test_a_trusted_proxy_sets_the_scheme_and_nobody_else() -> None:
    seen: dict[str, Any] = {}

    async def app(s: Any, receive: Any, send: Any) -> None:
        seen.update(scheme=s["scheme"], client=s["client"])

    nets = (ipaddress.ip_network("10.0.0.0/8"),)
    wrapper = ClientAddress(app, nets)
    for peer, want in (("10.1.2.3", "https"), ("192.0.2.7", "http")):
        s = {**scope(x_forwarded_proto="https", x_forwarded_for="198.51.100.1"),
             "scheme": "http", "client": (peer, 1234)}
        await wrapper(s, None, None)
        assert seen["scheme"] == want, peer
