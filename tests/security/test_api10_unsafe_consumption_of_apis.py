"""API10:2023 Unsafe Consumption of APIs: what a service receives from another (events,
invocation answers) is validated like client input. A malformed event is dead-lettered and
recorded, never processed or retried forever; an event from an app that does not own the
topic is refused by the pub/sub component's scopes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import eventually, sidecar_url


async def _publish(via: str, topic: str, body: dict[str, Any],
                   dapr_headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(headers=dapr_headers, timeout=10) as c:
        return await c.post(f"{sidecar_url(via)}/v1.0/publish/pubsub/{topic}", json={
            "specversion": "1.0", "id": body["id"], "source": "tests", "type": body["type"],
            "datacontenttype": "application/json", "data": body["data"]},
            headers={"content-type": "application/cloudevents+json"})


async def test_a_malformed_event_from_a_real_publisher_is_dead_lettered(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str]) -> None:
    event_id = f"unsafe-{uuid.uuid4()}"
    r = await _publish("users", "users", {"id": event_id, "type": "user.registered", "data": {
        "type": "user.registered", "user_id": "not-a-uuid", "email": 42}}, dapr_headers)
    assert r.status_code == 204, r.text

    async def recorded() -> dict[str, Any] | None:
        r = await gateway.get("/api/notifications/dead-letters", params={"event_id": event_id},
                              headers=admin_headers)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items[0] if items else None

    item = await eventually(recorded, what="the dead letter")
    assert item["type"] == "user.registered"


@pytest.mark.parametrize(("via", "topic"), [("payments", "orders"), ("gateway", "users"),
                                       ("basket", "inventory"), ("orders", "users")])
async def test_an_app_cannot_publish_to_a_topic_it_does_not_own(
        dapr_headers: dict[str, str], via: str, topic: str) -> None:
    r = await _publish(via, topic, {"id": f"scoped-{uuid.uuid4()}", "type": "order.shipped",
                                    "data": {"type": "order.shipped"}}, dapr_headers)
    assert r.status_code == 403, (r.status_code, r.text)
