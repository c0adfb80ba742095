"""The gateway's operability features on the real stack: the merged OpenAPI document and the
docs, request and trace ids, the liveness hop, path hygiene, metrics, and rate limits that
are counted in the Dapr statestore.

Rate-limit tests are distinct clients, each connecting from a loopback address of its own
(tests/clients.py), so they neither throttle nor are throttled by the rest of the suite.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.clients import client_from, new_address
from tests.conftest import ROOT, Customer, is_problem, sidecar_url, wait_for_line

BACKENDS = ("users", "products", "orders", "payments", "inventory", "notifications")
LOGS = ROOT / ".local" / "logs"
# The catalog reads below must reach products (its log is checked): not the edge cache.
ORIGIN = {"cache-control": "no-cache"}
# The tight rule of the local stack (dapr/dapr.yaml, gateway env RATE_LIMIT_RULES).
SELFTEST_PATH, SELFTEST_LIMIT, SELFTEST_WINDOW = "/api/notifications/health", 5, 60


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


# -- OpenAPI and docs --------------------------------------------------------------------------
async def test_openapi_merges_every_public_route_and_no_internal_one(
        gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    assert not [p for p in paths if "/internal" in p or p.startswith(("/schema", "/metrics"))]
    assert {"/api", "/health"} <= set(paths)  # "/" is the shop (HTML, from web)
    for svc in BACKENDS:
        assert f"/api/{svc}/health" in paths
        assert all(p.startswith(("/api/", "/health")) or p == "/api" for p in paths)
    # the contract routes of the architecture
    for path, method in [("/api/users/register", "post"), ("/api/users/login", "post"),
                         ("/api/users/profile", "get"), ("/api/products", "get"),
                         ("/api/products/{product_id}", "get"), ("/api/orders", "post"),
                         ("/api/orders/{order_id}", "get"),
                         ("/api/inventory/{product_id}", "get"),
                         ("/api/notifications", "get")]:
        assert method in paths.get(path, {}), (path, method, sorted(paths))
    components = doc["components"]
    assert components["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert "Problem" in components["schemas"]
    # service schemas are prefixed, and every reference resolves
    text = r.text
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in components["schemas"], ref
    profile = paths["/api/users/profile"]["get"]
    assert profile["security"] == [{"BearerAuth": []}]
    for status in ("401", "429"):
        content = profile["responses"][status]["content"]
        assert "application/problem+json" in content
    assert paths["/api/products"]["get"].get("security") is None  # public


async def test_docs_are_served_without_any_cdn(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets and all(a.startswith("/docs/") for a in assets), assets
    for asset in assets:
        got = await gateway.get(asset)
        assert got.status_code == 200, asset
        assert len(got.content) > 0
    init = (await gateway.get("/docs/init.js")).text
    assert '"/openapi.json"' in init
    bundle = await gateway.get("/docs/assets/swagger-ui-bundle.js")
    assert len(bundle.content) > 500_000  # the real Swagger UI, not a stub


# -- ids, traces and logs ----------------------------------------------------------------------
async def test_request_id_is_generated_returned_and_forwarded(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/api/products/categories")
    assert r.status_code == 200
    generated = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert r.headers.get_list("x-request-id") == [generated]

    mine = f"test-{uuid.uuid4().hex}"
    r = await gateway.get("/api/products/categories", headers={"x-request-id": mine, **ORIGIN})
    assert r.headers["x-request-id"] == mine
    # the service logged it too: the id went through both sidecars
    await wait_for_line(LOGS / "products.log", mine)


async def test_a_malformed_request_id_is_replaced(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/", headers={"x-request-id": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


async def test_trace_id_reaches_the_service_logs(gateway: httpx.AsyncClient) -> None:
    trace_id, header = traceparent()
    rid = f"trace-{uuid.uuid4().hex}"
    r = await gateway.get("/api/products/categories",
                          headers={"traceparent": header, "x-request-id": rid, **ORIGIN})
    assert r.status_code == 200
    assert trace_id in r.headers.get("traceparent", "")  # Dapr continued our trace
    gw_line = await wait_for_line(LOGS / "gateway.log", rid)
    svc_line = await wait_for_line(LOGS / "products.log", rid)
    for line in (gw_line, svc_line):
        assert f'"trace_id": "{trace_id}"' in line, line
        assert '"app_id"' in line


async def test_the_gateway_starts_a_trace_when_the_client_sent_none(
        gateway: httpx.AsyncClient) -> None:
    rid = f"notrace-{uuid.uuid4().hex}"
    r = await gateway.get("/api/products/categories", headers={"x-request-id": rid, **ORIGIN})
    trace_id = r.headers["traceparent"].split("-")[1]
    line = await wait_for_line(LOGS / "products.log", rid)
    assert f'"trace_id": "{trace_id}"' in line


# -- the liveness hop and path hygiene ---------------------------------------------------------
@pytest.mark.parametrize("app_id", ["products", "orders"])
async def test_service_liveness_through_the_gateway(gateway: httpx.AsyncClient,
                                                    app_id: str) -> None:
    r = await gateway.get(f"/api/{app_id}/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "service": app_id}


@pytest.mark.parametrize("raw", [
    "/api/products/%2e%2e/%2e%2e/internal/products/batch",
    "/api/products/../../internal/products/batch",
    "/api/products/x%09y",
    "/api/products/x%23y",
    "/api/orders/%00",
])
async def test_paths_daprd_would_refuse_or_resolve_are_400(raw: str) -> None:
    async with httpx.AsyncClient() as c:
        # httpx would normalise the dots; send the path exactly as written
        r = await c.send(c.build_request("GET", httpx.URL("http://127.0.0.1:8080",
                                                          raw_path=raw.encode())))
    # 400 from the gateway's check; literal dots may already be refused by the router (404):
    # either way the request is not forwarded to the service
    assert is_problem(r)["status"] in ((400, 404) if "/../" in raw else (400,))


async def test_a_method_the_route_lacks_is_405_naming_the_methods_it_has(
        gateway: httpx.AsyncClient) -> None:
    r = await gateway.request("DELETE", "/api/users/profile")
    is_problem(r, 405)
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS", "PATCH"}
    r = await gateway.post("/api")
    is_problem(r, 405)
    assert r.headers["allow"] == "GET"


async def test_options_lists_every_method_of_a_path_with_two_handler_groups(
        gateway: httpx.AsyncClient) -> None:
    """GET and PATCH /api/users/profile come from two functions; Litestar (2.25) answered
    OPTIONS with the first group's methods only."""
    r = await gateway.options("/api/users/profile")
    assert r.status_code == 204
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS", "PATCH"}


async def test_a_method_daprd_does_not_know_is_405_not_a_post(
        gateway: httpx.AsyncClient) -> None:
    """daprd sends an unknown method as a POST: QUERY /api/basket/guest made a basket."""
    r = await gateway.request("QUERY", "/api/basket/guest")
    is_problem(r, 405)
    assert "POST" in r.headers["allow"]


async def test_an_address_with_a_control_character_is_refused_at_registration(
        gateway: httpx.AsyncClient) -> None:
    """Such an address travelled in the x-user-email header the gateway sends, which its
    HTTP client refuses: every call of the account was a 500. The users service refuses it
    now, and the gateway drops the header of an account registered before."""
    r = await gateway.post("/api/users/register", json={
        "email": "a\x07b@example.com", "password": "correct horse battery", "name": "Bell"})
    assert {e["field"] for e in is_problem(r, 422)["errors"]} == {"email"}


async def test_checkout_without_its_idempotency_key_is_400(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    """The key is required; the gateway's own key for retried POSTs must not stand in."""
    r = await gateway.post("/api/basket/checkout", headers=customer.headers, json={
        "shipping_address": {"name": "A", "line1": "1 Road", "city": "C",
                             "postal_code": "1", "country": "GB"}})
    assert "idempotency" in is_problem(r, 400)["detail"].lower()


async def test_a_url_longer_than_daprd_reads_is_414(gateway: httpx.AsyncClient) -> None:
    """daprd answered it with a bare text/plain 431."""
    r = await gateway.get("/api/products", params={"search": "\u00e9" * 1200})
    is_problem(r, 414)


async def test_a_big_body_is_413(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post("/api/products", content=b"x" * (1024 * 1024 + 10),
                           headers={"content-type": "application/json"})
    is_problem(r, 413)


# -- metrics -----------------------------------------------------------------------------------
async def test_metrics_have_route_method_status_and_pool_gauges() -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get("http://127.0.0.1:8080/api/products/categories")
        assert r.status_code == 200
        text = (await c.get("http://127.0.0.1:3002/metrics")).text
        gw = (await c.get("http://127.0.0.1:9080/metrics")).text  # the internal port
    assert re.search(r'ecommerce_requests_total\{app_name="products",method="GET",'
                     r'path="/api/products/categories",status_code="200"\} \d', text), text[:2000]
    assert "ecommerce_request_duration_seconds_bucket" in text
    size = re.search(r'ecommerce_db_pool_size\{app_name="products"\} (\d+)', text)
    assert size and int(size.group(1)) >= 1
    assert re.search(r'ecommerce_db_pool_idle\{app_name="products"\} \d', text)
    assert re.search(r'ecommerce_gateway_requests_total\{method="GET",service="products",'
                     r'status_code="200"\} \d', gw)
    assert "ecommerce_gateway_upstream_duration_seconds_bucket" in gw


async def test_sidecar_metrics_are_enabled() -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get("http://127.0.0.1:14080/metrics")  # gateway's daprd: P + 6000
    assert r.status_code == 200
    assert "dapr_" in r.text


# -- rate limits -------------------------------------------------------------------------------
async def test_rate_limit_answers_429_problem_with_retry_after(
        gateway: httpx.AsyncClient) -> None:
    async with client_from() as client, client_from() as other:
        codes = [(await client.get(SELFTEST_PATH)).status_code for _ in range(SELFTEST_LIMIT)]
        assert codes == [200] * SELFTEST_LIMIT
        r = await client.get(SELFTEST_PATH)
        body = is_problem(r, 429)
        assert "selftest" in body["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= SELFTEST_WINDOW
        # other clients and other routes are not affected
        assert (await other.get(SELFTEST_PATH)).status_code == 200
        assert (await client.get("/api/products/health")).status_code == 200


async def test_rate_limit_counts_are_shared_through_the_statestore(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str]) -> None:
    """A count written by another replica (here: straight into the statestore, through the
    gateway's sidecar so the key carries the gateway's prefix) applies to this one."""
    ip, other_ip = new_address(), new_address()
    now = time.time()
    if SELFTEST_WINDOW - now % SELFTEST_WINDOW < 5:  # do not straddle a window boundary
        await asyncio.sleep(SELFTEST_WINDOW - now % SELFTEST_WINDOW + 0.2)
    window = int(time.time() // SELFTEST_WINDOW)
    base = f"{sidecar_url('gateway')}/v1.0/state/statestore"
    async with httpx.AsyncClient(headers=dapr_headers) as dapr:
        w = await dapr.post(base, json=[{"key": f"ratelimit|selftest|{ip}|{window}",
                                         "value": SELFTEST_LIMIT,
                                         "metadata": {"ttlInSeconds": "120"}}])
        assert w.status_code == 204, w.text
        async with client_from(ip) as client:
            is_problem(await client.get(SELFTEST_PATH), 429)

        # and this replica's own admissions land in the statestore
        async with client_from(other_ip) as other:
            for _ in range(3):
                assert (await other.get(SELFTEST_PATH)).status_code == 200
        other_key = quote(f"ratelimit|selftest|{other_ip}|{window}", safe="")
        deadline = time.monotonic() + 5
        count = None
        while time.monotonic() < deadline:
            got = await dapr.get(f"{base}/{other_key}")
            count = got.json() if got.status_code == 200 else None
            if count == 3:
                break
            await asyncio.sleep(0.2)
        assert count == 3


# -- the ops files -------------------------------------------------------------------------------
async def test_dashboard_queries_name_metrics_the_platform_exports(
        gateway: httpx.AsyncClient) -> None:
    """docs/ops/grafana-dashboard.json and prometheus.yml point at metrics that exist."""
    import json

    import yaml

    dashboard = json.loads((ROOT / "docs/ops/grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {m for e in exprs for m in re.findall(r"\b(ecommerce_\w+)", e)}
    scrape = yaml.safe_load((ROOT / "docs/ops/prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] if job["job_name"] == "ecommerce-apps"
               for group in job["static_configs"] for t in group["targets"]]
    assert len(targets) == 7
    # exercise what the gauges and counters need to show up at least once
    await gateway.get("/api/products?page=1")
    async with client_from() as c:
        await c.get(SELFTEST_PATH)
    texts = []
    async with httpx.AsyncClient() as c:
        for target in targets:
            texts.append((await c.get(f"http://{target}/metrics")).text)
    exported = set(re.findall(r"^(ecommerce_\w+?)(?:\{| )", "\n".join(texts), re.M))
    assert wanted <= exported, sorted(wanted - exported)
