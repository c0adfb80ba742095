"""API9:2023 Improper Inventory Management: the public API is exactly what the merged
OpenAPI document lists, every documented route exists, nothing internal is documented or
routed, and the documented answers include the 415 a wrong content type gets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.clients import client_from
from tests.conftest import is_problem

PUBLIC_PREFIXES = ("/api/users", "/api/products", "/api/orders", "/api/inventory",
                   "/api/notifications", "/api/basket", "/api/payments")


async def _doc(gateway: httpx.AsyncClient) -> dict[str, Any]:
    r = await gateway.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


async def test_the_document_lists_only_public_routes(gateway: httpx.AsyncClient) -> None:
    paths = list((await _doc(gateway))["paths"])
    assert paths and all(p in ("/api", "/health") or p.startswith(PUBLIC_PREFIXES)
                         for p in paths), paths
    assert not [p for p in paths if "internal" in p or "/dapr/" in p or "/events" in p]


async def test_unknown_versions_and_services_are_404() -> None:
    # A client of its own: paths outside /api reach the shop, which sets a session cookie.
    async with client_from() as client:
        for path in ("/api/v0/products", "/api/admin", "/api/users/v2/login",
                     "/api/dapr/config", "/v1.0/metadata", "/dapr/subscribe"):
            r = await client.get(path)
            assert r.status_code == 404, (path, r.status_code)


async def test_a_body_of_the_wrong_type_is_415_and_documented(
        gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/users/login", content=b"email=a&password=b",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    is_problem(r, 415)
    ops = (await _doc(gateway))["paths"]["/api/users/login"]["post"]
    assert "415" in ops["responses"], sorted(ops["responses"])
