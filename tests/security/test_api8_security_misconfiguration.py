"""API8:2023 Security Misconfiguration: the public port shows only the public surface, CORS
is closed unless an origin is listed, errors carry no internals, and a service refuses any
call that did not come through its own sidecar (a forged pub/sub event included)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import invoker, is_problem, stack

EVIL = "https://evil.example"


@pytest.mark.parametrize("path", ["/metrics", "/schema", "/schema/openapi.json",
                                  "/metrics/", "/schema/swagger"])
async def test_metrics_and_the_internal_schema_are_not_on_the_public_port(
        gateway: httpx.AsyncClient, path: str) -> None:
    r = await gateway.get(path)
    is_problem(r, 404)
    assert "ecommerce_" not in r.text and "openapi" not in r.text


async def test_metrics_are_on_the_internal_port() -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get("http://127.0.0.1:9080/metrics")
    assert r.status_code == 200 and "ecommerce_gateway_requests_total" in r.text


@pytest.mark.parametrize("path", ["/api/products", "/health", "/openapi.json"])
async def test_cors_is_closed_to_an_unlisted_origin(gateway: httpx.AsyncClient,
                                                   path: str) -> None:
    r = await gateway.get(path, headers={"Origin": EVIL})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers
    pre = await gateway.options(path, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    is_problem(pre, 403)
    assert "access-control-allow-origin" not in pre.headers


async def test_cors_allows_a_listed_origin_with_credentials(gateway: httpx.AsyncClient) -> None:
    listed = stack.app_by_id("gateway").env.get("GATEWAY_CORS_ORIGINS", "")
    origin = listed.split(",")[0].strip()
    assert origin, "the local stack lists one origin (dapr/dapr.yaml) so this can be tested"
    r = await gateway.get("/api/products", headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in r.headers["vary"]
    pre = await gateway.options("/api/orders", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert "POST" in pre.headers["access-control-allow-methods"]


async def test_errors_carry_no_internals(gateway: httpx.AsyncClient) -> None:
    for r in (await gateway.get("/api/products/not-a-uuid"),
              await gateway.post("/api/users/login", content=b"{not json",
                                 headers={"content-type": "application/json"}),
              await gateway.get("/api/nope")):
        assert 400 <= r.status_code < 500
        for leak in ("Traceback", "asyncpg", "File \"", "litestar", "/work/"):
            assert leak not in r.text, (leak, r.text)


async def test_a_forged_event_posted_to_a_subscription_route_is_refused() -> None:
    """Straight to the notifications app, as a container next to it could: no sidecar token,
    or a made-up one, is a 401 before any routing."""
    event = {"specversion": "1.0", "id": f"forged-{uuid.uuid4()}", "source": "attacker",
             "type": "user.registered", "topic": "users", "pubsubname": "pubsub",
             "datacontenttype": "application/json",
             "data": {"type": "user.registered", "user_id": str(uuid.uuid4()),
                      "email": "victim@example.com", "name": "Victim"}}
    port = stack.app_by_id("notifications").port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        for headers in ({}, {"dapr-api-token": "guess"}):
            r = await c.post("/internal/events/users", json=event, headers=headers)
            assert r.status_code == 401, r.text


async def test_a_forged_event_invoked_through_another_apps_sidecar_is_refused(
        dapr_headers: dict[str, str]) -> None:
    """Every app's daprd holds a valid token for its own app, so the forgery that matters
    comes through a sidecar: payments invoking notifications' subscription route. Before the
    fix it was accepted (and sent the "welcome" e-mail to any address)."""
    event = {"specversion": "1.0", "id": f"forged-{uuid.uuid4()}", "source": "attacker",
             "type": "user.registered", "topic": "users", "pubsubname": "pubsub",
             "data": {"type": "user.registered", "user_id": str(uuid.uuid4()),
                      "email": "victim@example.com", "name": "Victim"}}
    async with invoker("payments", "notifications", dapr_headers) as c:
        r = await c.post("/internal/events/users", json=event)
    assert r.status_code in (401, 403), r.text


async def test_one_apps_token_does_not_open_another_app(secrets: dict[str, str]) -> None:
    """Each app has its own APP_API_TOKEN (scripts/stack.py app_api_token): before, every
    app and sidecar shared one, so any process holding it could call, say, products directly
    as if it were products' own daprd."""
    url = f"http://127.0.0.1:{stack.app_by_id('products').port}/api/products"
    async with httpx.AsyncClient() as c:
        own = await c.get(url, headers={"dapr-api-token": stack.app_api_token(secrets,
                                                                             "products")})
        assert own.status_code == 200, own.text
        for token in (stack.app_api_token(secrets, "payments"),
                      stack.app_api_token(secrets, "gateway"), secrets["app-api-token"]):
            r = await c.get(url, headers={"dapr-api-token": token})
            assert r.status_code == 401, r.text
