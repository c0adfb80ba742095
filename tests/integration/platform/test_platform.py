"""The platform foundation on the real stack: every service healthy and reachable through
Dapr, and each Dapr building block (state, secrets, bindings, workflow) working for real."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, is_problem, sidecar_url
from tests.mail import find_mail, now_ns

BACKENDS = ("users", "products", "orders", "payments", "inventory", "notifications")


async def test_gateway_health_reports_every_service(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["services"] == dict.fromkeys((*BACKENDS, "basket", "web"), "ok")


async def test_api_info(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/api")
    assert r.status_code == 200
    assert set(r.json()["services"]) == {*BACKENDS, "basket"}


@pytest.mark.parametrize("app_id", BACKENDS)
async def test_each_service_is_reached_through_dapr_invocation(
        app_id: str, dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{sidecar_url('gateway')}/v1.0/invoke/{app_id}/method/health/ready",
                        headers=dapr_headers)
    assert r.status_code == 200, r.text
    assert r.json()["service"] == app_id
    assert r.json()["checks"] == {"dapr": "ok", "database": "ok"}


async def test_unknown_service_is_404_problem(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/api/nosuchservice/things")
    body = is_problem(r, 404)
    assert "nosuchservice" in body["detail"]


async def test_unknown_route_of_a_service_is_404_problem(gateway: httpx.AsyncClient) -> None:
    is_problem(await gateway.get(f"/api/payments/{uuid.uuid4()}/nothing-here"), 404)


async def test_services_refuse_calls_that_bypass_their_sidecar() -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get("http://127.0.0.1:3002/api/products")
        is_problem(r, 401)
        # an unknown path answers the same: no route discovery without the token
        is_problem(await c.get("http://127.0.0.1:3002/api/nothing-here"), 401)
        is_problem(await c.get("http://127.0.0.1:3004/internal/charges/x"), 401)
        # liveness stays open for probes
        assert (await c.get("http://127.0.0.1:3002/health")).status_code == 200


async def test_sidecar_requires_its_api_token() -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{sidecar_url('users')}/v1.0/secrets/secretstore/users-db-dsn")
    assert r.status_code == 401


async def test_state_written_and_read_through_the_statestore(dapr_headers: dict[str, str]) -> None:
    key, value = f"test-{uuid.uuid4()}", {"hello": "state", "n": 42}
    base = f"{sidecar_url('gateway')}/v1.0/state/statestore"
    async with httpx.AsyncClient(headers=dapr_headers) as c:
        r = await c.post(base, json=[{"key": key, "value": value}])
        assert r.status_code == 204, r.text
        got = await c.get(f"{base}/{key}")
        assert got.status_code == 200 and got.json() == value
        assert (await c.delete(f"{base}/{key}")).status_code == 204
        assert (await c.get(f"{base}/{key}")).status_code == 204


async def test_secret_read_through_the_secret_store_and_scoped_per_app(
        dapr_headers: dict[str, str], secrets: dict[str, str]) -> None:
    async with httpx.AsyncClient(headers=dapr_headers) as c:
        own = await c.get(f"{sidecar_url('users')}/v1.0/secrets/secretstore/users-db-dsn")
        assert own.status_code == 200, own.text
        assert own.json() == {"users-db-dsn": secrets["users-db-dsn"]}
        # The gateway's Configuration denies it every database secret.
        other = await c.get(f"{sidecar_url('gateway')}/v1.0/secrets/secretstore/users-db-dsn")
        assert other.status_code == 403, other.text
        peer = await c.get(f"{sidecar_url('products')}/v1.0/secrets/secretstore/users-db-dsn")
        assert peer.status_code == 403, peer.text


async def test_email_through_the_binding_reaches_the_smtp_sink(
        dapr_headers: dict[str, str]) -> None:
    marker = f"binding-check-{uuid.uuid4()}"
    since = now_ns()
    async with httpx.AsyncClient(headers=dapr_headers) as c:
        r = await c.post(f"{sidecar_url('notifications')}/v1.0/bindings/email", json={
            "operation": "create", "data": f"<p>{marker}</p>",
            "metadata": {"emailTo": "someone@example.com", "subject": marker},
        })
    assert r.status_code in (200, 204), r.text
    msg = await asyncio.to_thread(find_mail, marker, since_ns=since)
    assert msg["To"] == "someone@example.com"
    assert msg["Subject"] == marker


async def test_a_workflow_is_scheduled_and_completed_in_the_orders_service(
        secrets: dict[str, str], gateway: httpx.AsyncClient, admin_headers: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine as the orders service uses it: an order's own workflow, seen through the
    # SDK's client, from scheduled to completed (no workflow exists only for a test).
    from dapr.conf import settings as dapr_settings
    from dapr.ext.workflow import WorkflowStatus
    from dapr.ext.workflow.aio import DaprWorkflowClient

    from tests.conftest import register_customer, stack
    from tests.shop import change, create_product, place, wait_order

    monkeypatch.setattr(dapr_settings, "DAPR_API_TOKEN", secrets["dapr-api-token"])
    client = DaprWorkflowClient(host="127.0.0.1", port=str(stack.app_by_id("orders").dapr_grpc))
    product = await create_product(gateway, admin_headers, price="2.50", stock=3)
    buyer = await register_customer(gateway)
    order_id = (await place(gateway, buyer, (product, 1)))["id"]
    await wait_order(gateway, buyer.headers, order_id, {"processing"})
    state = await client.get_workflow_state(order_id)
    assert state is not None and state.runtime_status == WorkflowStatus.RUNNING
    for status in ("shipped", "delivered"):
        assert (await change(gateway, admin_headers, order_id, status)).status_code in (200, 202)
        await wait_order(gateway, buyer.headers, order_id, {status})
    done = await client.wait_for_workflow_completion(order_id, timeout_in_seconds=60)
    assert done is not None and done.runtime_status == WorkflowStatus.COMPLETED
    assert done.serialized_output is not None and '"delivered"' in done.serialized_output


def test_generated_secrets_file_is_private() -> None:
    path = Path(ROOT / ".local" / "secrets.json")
    assert path.stat().st_mode & 0o077 == 0
