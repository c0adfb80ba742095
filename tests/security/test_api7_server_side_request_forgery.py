"""API7:2023 Server Side Request Forgery: nothing a client sends makes a service fetch a URL
of the client's choosing. The gateway's one outbound hop is its own daprd, and a path that
daprd would resolve to another app or method (dot segments, encoded separators) is a 400;
product pictures are links the browser follows, never fetched server-side, and must be
http(s) or site-relative."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import is_problem


@pytest.mark.parametrize("raw", [
    "/api/products/%2e%2e/%2e%2e/v1.0/invoke/payments/method/internal/charges",
    "/api/products/%2E%2E/inventory/internal/reservations",
    "/api/users/..%2f..%2fv1.0%2fstate%2fstatestore",
    "/api/orders/%252e%252e/metadata",
])
async def test_paths_that_would_steer_the_sidecar_elsewhere_are_400(raw: str) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.send(c.build_request("POST", httpx.URL("http://127.0.0.1:8080",
                                                           raw_path=raw.encode())))
    is_problem(r, 400)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL",
    "javascript:alert(1)", "http://", "data:image/png;base64,AAAA",
])
async def test_a_product_picture_cannot_be_a_url_a_server_would_fetch(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], url: str) -> None:
    r = await gateway.post("/api/products", headers=admin_headers, json={
        "name": "SSRF probe", "price": "1.00", "category": "test", "image_url": url})
    is_problem(r, 400)
