"""Redelivering a dead letter (admin): the event is published again through Dapr to the
topic it died on, the subscriber handles it afresh, and the attempt and its outcome are
kept on the dead letter and in the notifications' audit trail."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import Customer, eventually, is_problem, sidecar_url
from tests.integration.notifications.test_notifications import new_recipient, order_event, publish
from tests.integration.products.test_audit import admin_identity, trail
from tests.mail import messages, now_ns, wait_for_mail

DEAD = "/api/notifications/dead-letters"


async def dead_letter(gateway: httpx.AsyncClient, admin_headers: dict[str, str],
                      event_id: str) -> dict[str, Any]:
    async def recorded() -> dict[str, Any] | None:
        r = await gateway.get(DEAD, params={"event_id": event_id}, headers=admin_headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items[0] if items else None

    found: dict[str, Any] = await eventually(recorded, what="the dead letter")
    return found


async def test_a_redelivered_dead_letter_is_sent_after_all_and_audited(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str]) -> None:
    me = await admin_identity(gateway, admin_headers)
    # An event whose CloudEvent id no subscriber can keep (over 200 characters): dropped
    # to the dead-letter topic. Published again it gets a fresh id, and so an e-mail.
    event_id = f"test-redeliver-{uuid.uuid4()}-" + "x" * 200
    recipient = new_recipient()
    data = order_event("processing", order_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()),
                       email=recipient)
    since = now_ns()
    await publish(dapr_headers, "orders", "order.confirmed", data, event_id=event_id)
    letter = await dead_letter(gateway, admin_headers, event_id[:200])
    assert letter["topic"] == "orders" and letter["redeliveries"] == 0
    assert letter["last_redelivery_outcome"] is None
    assert messages(recipient, since) == []

    r = await gateway.post(f"{DEAD}/{letter['event_id']}/redeliver", headers=admin_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "published" and body["redeliveries"] == 1
    assert (body["event_id"], body["topic"], body["type"]) == (
        letter["event_id"], "orders", "order.confirmed")
    [mail] = await asyncio.to_thread(wait_for_mail, recipient, 1, 20.0, since)
    assert "confirmed" in mail["Subject"]

    letter = await dead_letter(gateway, admin_headers, letter["event_id"])
    assert letter["redeliveries"] == 1 and letter["last_redelivery_outcome"] == "published"
    assert letter["last_redelivered_at"] == body["last_redelivered_at"]
    [entry] = await trail(gateway, admin_headers, "notifications",
                          entity_id=letter["event_id"])
    assert entry["action"] == "dead_letter.redeliver" and entry["entity"] == "dead_letter"
    assert entry["actor_id"] == me["id"] and entry["actor_email"] == me["email"]
    assert entry["entity_label"] == "order.confirmed"
    assert entry["before"] == {"redeliveries": 0, "last_redelivered_at": None,
                               "last_redelivery_outcome": None}
    assert entry["after"]["redeliveries"] == 1
    assert entry["after"]["last_redelivery_outcome"] == "published"


async def test_redelivering_what_cannot_be_redelivered(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str], customer: Customer) -> None:
    is_problem(await gateway.post(f"{DEAD}/no-such-event-{uuid.uuid4()}/redeliver",
                                  headers=admin_headers), 404)
    # A dead letter whose payload was not an object has nothing to publish again.
    event_id = f"test-raw-{uuid.uuid4()}"
    async with httpx.AsyncClient(headers=dapr_headers, timeout=10) as c:
        # Through notifications' sidecar: the only app besides products that may publish
        # to the dead-letter topic (publishingScopes in components/pubsub.yaml).
        r = await c.post(f"{sidecar_url('notifications')}/v1.0/publish/pubsub/deadletter",
                         content=b'{"specversion": "1.0", "id": "' + event_id.encode()
                         + b'", "source": "tests", "type": "weird", '
                         b'"datacontenttype": "application/json", "data": [1, 2]}',
                         headers={"content-type": "application/cloudevents+json"})
        assert r.status_code < 300, r.text
    await dead_letter(gateway, admin_headers, event_id)
    is_problem(await gateway.post(f"{DEAD}/{event_id}/redeliver", headers=admin_headers), 409)
    is_problem(await gateway.post(f"{DEAD}/{event_id}/redeliver", headers=customer.headers),
               403)
    is_problem(await gateway.post(f"{DEAD}/{event_id}/redeliver"), 401)
    assert await trail(gateway, admin_headers, "notifications", entity_id=event_id) == []
