"""The notifications service on the real stack: events published for real through a daprd's
publish API reach the service over pub/sub, e-mails reach the SMTP sink through the `email`
binding, and the feed is read through the gateway."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import (
    Customer,
    eventually,
    is_problem,
    register_customer,
    sidecar_url,
    stack,
)
from tests.mail import content, messages, now_ns, wait_for_mail


# -- helpers -------------------------------------------------------------------------------------
async def publish(dapr_headers: dict[str, str], topic: str, event_type: str,
                  data: dict[str, Any], *, event_id: str | None = None,
                  via: str = "orders") -> str:
    """Publish like a service does; with `event_id`, as a raw CloudEvent with that id (the way
    a broker redelivers the same message). Returns the CloudEvent id (or "" if Dapr picks it)."""
    url = f"{sidecar_url(via)}/v1.0/publish/pubsub/{topic}"
    payload = {"type": event_type, **data}
    async with httpx.AsyncClient(headers=dapr_headers, timeout=10) as c:
        if event_id is None:
            r = await c.post(url, json=payload, params={"metadata.cloudevent.type": event_type})
        else:
            r = await c.post(url, json={
                "specversion": "1.0", "id": event_id, "source": "tests", "type": event_type,
                "datacontenttype": "application/json", "data": payload,
            }, headers={"content-type": "application/cloudevents+json"})
    assert r.status_code == 204, r.text
    return event_id or ""


def order_event(status: str, *, order_id: str, user_id: str, email: str,
                reason: str | None = None) -> dict[str, Any]:
    tag = order_id[:8]
    items = [
        {"product_id": str(uuid.uuid4()), "name": f"Espresso cup {tag}", "quantity": 2,
         "unit_price": "12.50", "line_total": "25.00"},
        {"product_id": str(uuid.uuid4()), "name": f"Coffee beans {tag}", "quantity": 1,
         "unit_price": "3.99", "line_total": "3.99"},
    ]
    event: dict[str, Any] = {
        "order_id": order_id, "user_id": user_id, "user_email": email, "status": status,
        "total": "28.99", "currency": "USD", "items": items,
        "occurred_at": "2026-01-01T12:00:00Z"}
    if reason:
        event["reason"] = reason
    return event


def new_recipient() -> str:
    return f"notify-{uuid.uuid4().hex[:12]}@example.com"


async def mails(marker: str, count: int, since: int, timeout: float = 20.0) -> list[Any]:
    return await asyncio.to_thread(wait_for_mail, marker, count, timeout, since)


async def feed(gateway: httpx.AsyncClient, headers: dict[str, str],
               **params: Any) -> dict[str, Any]:
    r = await gateway.get("/api/notifications", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def max_attempts() -> int:
    return int(stack.app_by_id("notifications").env.get("NOTIFICATIONS_MAX_ATTEMPTS", "5"))


# -- welcome -------------------------------------------------------------------------------------
async def test_registering_sends_a_welcome_email(gateway: httpx.AsyncClient) -> None:
    since = now_ns()
    customer = await register_customer(gateway, name="Ada Lovelace")
    [msg] = await mails(customer.email, 1, since)
    assert msg["To"] == customer.email
    assert msg["Subject"] == "Welcome to the shop, Ada Lovelace"
    assert msg.get_content_type() == "text/html"
    assert "Welcome, Ada Lovelace!" in content(msg)

    async def welcome_in_feed() -> dict[str, Any] | None:
        items = (await feed(gateway, customer.headers))["items"]
        return next((i for i in items if i["kind"] == "welcome"), None)

    item = await eventually(welcome_in_feed, what="the welcome notification")
    assert item["user_id"] == customer.id
    assert item["status"] == "sent" and item["attempts"] == 1 and item["read"] is False
    assert item["recipient"] == customer.email and item["order_id"] is None
    assert "Welcome, Ada Lovelace!" in item["body"]


async def test_welcome_email_escapes_the_users_name(dapr_headers: dict[str, str]) -> None:
    since, email = now_ns(), new_recipient()
    name = '<script>alert("x")</script> & <b>Co</b>'
    await publish(dapr_headers, "users", "user.registered",
                  {"user_id": str(uuid.uuid4()), "email": email, "name": name,
                   "occurred_at": "2026-01-01T12:00:00Z"}, via="users")
    [msg] = await mails(email, 1, since)
    html = content(msg)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html
    assert "<script>" not in html and "<b>Co</b>" not in html


# -- orders --------------------------------------------------------------------------------------
async def test_an_order_lifecycle_sends_one_email_per_step(
        dapr_headers: dict[str, str]) -> None:
    since, email = now_ns(), new_recipient()
    order_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    short = order_id.replace("-", "")[:8].upper()
    steps = [("order.created", "pending"), ("order.confirmed", "processing"),
             ("order.shipped", "shipped"), ("order.delivered", "delivered")]
    for event_type, status in steps:
        await publish(dapr_headers, "orders", event_type,
                      order_event(status, order_id=order_id, user_id=user_id, email=email))
    got = await mails(email, 3, since)
    subjects = {m["Subject"]: m for m in got}
    assert set(subjects) == {f"Order {short} confirmed", f"Order {short} has shipped",
                             f"Order {short} delivered"}
    for subject, status in [(f"Order {short} confirmed", "processing"),
                            (f"Order {short} has shipped", "shipped"),
                            (f"Order {short} delivered", "delivered")]:
        html = content(subjects[subject])
        assert subjects[subject]["To"] == email
        assert order_id in html
        assert f"<strong>{status}</strong>" in html
        for line in (f"Espresso cup {order_id[:8]}", f"Coffee beans {order_id[:8]}",
                     "12.50 USD", "25.00 USD", "3.99 USD"):
            assert line in html, (subject, line)
        assert html.count("28.99 USD") == 1
    # order.created sends nothing, and nothing is sent twice.
    await asyncio.sleep(1.5)
    assert len(messages(email, since)) == 3


async def test_a_cancelled_order_email_gives_the_reason(dapr_headers: dict[str, str]) -> None:
    since, email = now_ns(), new_recipient()
    order_id = str(uuid.uuid4())
    await publish(dapr_headers, "orders", "order.cancelled",
                  order_event("cancelled", order_id=order_id, user_id=str(uuid.uuid4()),
                              email=email, reason="payment_declined"))
    [msg] = await mails(email, 1, since)
    html = content(msg)
    assert msg["Subject"] == f"Order {order_id.replace('-', '')[:8].upper()} cancelled"
    assert "The payment was declined." in html and "(payment_declined)" in html
    assert "<strong>cancelled</strong>" in html and "28.99 USD" in html


async def test_a_redelivered_event_sends_nothing_twice(dapr_headers: dict[str, str]) -> None:
    since, email = now_ns(), new_recipient()
    order_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    event_id = f"test-redelivery-{uuid.uuid4()}"
    data = order_event("shipped", order_id=order_id, user_id=user_id, email=email)
    await publish(dapr_headers, "orders", "order.shipped", data, event_id=event_id)
    await mails(email, 1, since)
    # The same CloudEvent again, once after it was sent and three times at once.
    await publish(dapr_headers, "orders", "order.shipped", data, event_id=event_id)
    await asyncio.gather(*(publish(dapr_headers, "orders", "order.shipped", data,
                                   event_id=event_id) for _ in range(3)))
    # The same step re-published under a new id (an at-least-once outbox after a crash).
    await publish(dapr_headers, "orders", "order.shipped", data)
    # A later event for the same recipient proves the duplicates were consumed before it.
    await publish(dapr_headers, "orders", "order.delivered",
                  order_event("delivered", order_id=order_id, user_id=user_id, email=email))
    await mails(email, 2, since)
    await asyncio.sleep(1.5)
    got = messages(email, since)
    assert sorted(m["Subject"].rsplit(" ", 1)[-1] for m in got) == ["delivered", "shipped"]


async def test_a_send_claimed_by_a_crashed_delivery_is_taken_over_when_the_claim_runs_out(
        dapr_headers: dict[str, str], secrets: dict[str, str]) -> None:
    # What a delivery that died mid-send leaves behind: a pending row under its live claim.
    email, order_id = new_recipient(), uuid.uuid4()
    event_id = f"test-claimed-{uuid.uuid4()}"
    db = await asyncpg.connect(secrets["notifications-db-dsn"])
    try:
        notification_id = await db.fetchval(
            "INSERT INTO notifications (id, event_id, dedupe_key, user_id, kind, subject,"
            " order_id, recipient, body_text, body_html, claim_token, claimed_until)"
            " VALUES ($1, $2, $3, $4, 'order_shipped', 'Claimed before', $5, $6, 'text',"
            " '<p>claimed before</p>', $7, clock_timestamp() + interval '4 seconds')"
            " RETURNING id", uuid.uuid4(), event_id, f"order_shipped:{order_id}", uuid.uuid4(),
            order_id, email, uuid.uuid4())
        since = now_ns()
        await publish(dapr_headers, "orders", "order.shipped",
                      order_event("shipped", order_id=str(order_id), user_id=str(uuid.uuid4()),
                                  email=email), event_id=event_id)
        # While the claim is live nobody else sends it ...
        await asyncio.sleep(2)
        assert messages(email, since) == []
        # ... and once it runs out, the waiting delivery takes it over and sends it once.
        [msg] = await mails(email, 1, since)
        assert msg["Subject"] == "Claimed before" and "claimed before" in content(msg)
        await asyncio.sleep(1.5)
        assert len(messages(email, since)) == 1
        row = await db.fetchrow("SELECT status, attempts, claim_token, claimed_until"
                                " FROM notifications WHERE id = $1", notification_id)
        assert dict(row) == {"status": "sent", "attempts": 1, "claim_token": None,
                             "claimed_until": None}
    finally:
        await db.close()


async def test_an_unusable_event_is_dead_lettered_and_recorded(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str]) -> None:
    event_id = f"test-bad-{uuid.uuid4()}"
    # Not an address the binding can take (it splits emailTo on ";").
    data = order_event("processing", order_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()),
                       email="a@example.com;b@example.com")
    await publish(dapr_headers, "orders", "order.confirmed", data, event_id=event_id)

    async def recorded() -> dict[str, Any] | None:
        r = await gateway.get("/api/notifications/dead-letters", params={"event_id": event_id},
                              headers=admin_headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items[0] if items else None

    item = await eventually(recorded, what="the dead letter")
    assert item["topic"] == "orders" and item["type"] == "order.confirmed"
    assert item["data"]["order_id"] == data["order_id"]
    assert (await feed(gateway, admin_headers, order_id=data["order_id"]))["total"] == 0


@pytest.mark.parametrize("case", ["infinite total", "id too long", "nul in data"])
async def test_malformed_order_events_are_dead_lettered_not_failed(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str], case: str) -> None:
    """Events the service cannot use are dropped to the dead-letter topic and recorded there
    (a 500 would only make Dapr redeliver them)."""
    event_id = f"test-bad-{uuid.uuid4()}"
    data = order_event("processing", order_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()),
                       email=new_recipient())
    if case == "infinite total":
        data["total"] = "Infinity"
    elif case == "id too long":
        event_id += "x" * 300
    else:
        data["status"] = "processing\u0000"
        data["items"][0]["name"] = "Mug\u0000"
    await publish(dapr_headers, "orders", "order.confirmed", data, event_id=event_id)

    async def recorded() -> dict[str, Any] | None:
        r = await gateway.get("/api/notifications/dead-letters",
                              params={"event_id": event_id[:200]}, headers=admin_headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items[0] if items else None

    item = await eventually(recorded, what="the dead letter")
    assert item["type"] == "order.confirmed"
    assert (await feed(gateway, admin_headers, order_id=data["order_id"]))["total"] == 0


async def test_smtp_down_retries_then_records_a_failure_and_stays_healthy(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str],
        admin_headers: dict[str, str]) -> None:
    email, order_id = new_recipient(), str(uuid.uuid4())
    event_id = f"test-smtp-down-{uuid.uuid4()}"
    smtp = stack.smtp_proc()
    smtp.stop()
    try:
        await publish(dapr_headers, "orders", "order.confirmed",
                      order_event("processing", order_id=order_id, user_id=str(uuid.uuid4()),
                                  email=email), event_id=event_id)

        async def failed() -> dict[str, Any] | None:
            items = (await feed(gateway, admin_headers, order_id=order_id))["items"]
            return items[0] if items and items[0]["status"] == "failed" else None

        item = await eventually(failed, timeout=40, what="the failed notification")
        assert item["attempts"] == max_attempts()
        assert item["last_error"] and item["sent_at"] is None
        async with httpx.AsyncClient(headers=dapr_headers) as c:
            ready = await c.get(
                f"{sidecar_url('gateway')}/v1.0/invoke/notifications/method/health/ready")
        assert ready.status_code == 200, ready.text
        health = (await gateway.get("/health")).json()
        assert health["services"]["notifications"] == "ok", health

        async def dead_lettered() -> dict[str, Any] | None:
            r = await gateway.get("/api/notifications/dead-letters",
                                  params={"event_id": event_id}, headers=admin_headers)
            items = r.json()["items"]
            return items[0] if items else None

        assert (await eventually(dead_lettered, what="the dead letter"))["topic"] == "orders"
    finally:
        smtp.start()
        stack.wait_port(stack.SMTP_PORT, "SMTP sink", 30, smtp)
    # Once the sink is back, new e-mails go out again; the failed one was not sent later.
    since, other = now_ns(), new_recipient()
    await publish(dapr_headers, "orders", "order.shipped",
                  order_event("shipped", order_id=str(uuid.uuid4()),
                              user_id=str(uuid.uuid4()), email=other))
    await mails(other, 1, since)
    assert messages(email) == []


# -- the feed ------------------------------------------------------------------------------------
async def test_customers_see_only_their_own_notifications(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str], customer: Customer,
        admin_headers: dict[str, str]) -> None:
    other = await register_customer(gateway, name="Other Customer")
    order_id = str(uuid.uuid4())
    await publish(dapr_headers, "orders", "order.confirmed",
                  order_event("processing", order_id=order_id, user_id=customer.id,
                              email=customer.email))

    async def in_feed() -> dict[str, Any] | None:
        items = (await feed(gateway, customer.headers, order_id=order_id))["items"]
        return items[0] if items else None

    mine = await eventually(in_feed, what="the order notification in the owner's feed")
    assert mine["kind"] == "order_confirmed" and mine["user_id"] == customer.id
    assert mine["last_error"] is None  # internal detail, admins only

    theirs = await feed(gateway, other.headers, page_size=100)
    assert theirs["items"] and {i["user_id"] for i in theirs["items"]} == {other.id}
    assert (await feed(gateway, other.headers, order_id=order_id))["total"] == 0
    # Someone else's notification is a 404, for a customer and an admin alike.
    for headers in (other.headers, admin_headers):
        r = await gateway.patch(f"/api/notifications/{mine['id']}", json={"read": True},
                                headers=headers)
        is_problem(r, 404)
    is_problem(await gateway.patch(f"/api/notifications/{uuid.uuid4()}", json={"read": True},
                                   headers=customer.headers), 404)
    # The admin sees everybody's.
    seen = (await feed(gateway, admin_headers, order_id=order_id))["items"]
    assert [i["id"] for i in seen] == [mine["id"]]

    r = await gateway.patch(f"/api/notifications/{mine['id']}", json={"read": True},
                            headers=customer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True and r.json()["read_at"]
    unread = await feed(gateway, customer.headers, unread=True, page_size=100)
    assert mine["id"] not in {i["id"] for i in unread["items"]}
    r = await gateway.patch(f"/api/notifications/{mine['id']}", json={"read": False},
                            headers=customer.headers)
    assert r.status_code == 200 and r.json()["read"] is False and r.json()["read_at"] is None


async def test_the_feed_is_paginated_newest_first(
        gateway: httpx.AsyncClient, dapr_headers: dict[str, str], customer: Customer) -> None:
    order_ids = [str(uuid.uuid4()) for _ in range(3)]
    for order_id in order_ids:
        await publish(dapr_headers, "orders", "order.shipped",
                      order_event("shipped", order_id=order_id, user_id=customer.id,
                                  email=customer.email))

    async def all_four() -> dict[str, Any] | None:
        body = await feed(gateway, customer.headers)
        return body if body["total"] == 4 else None  # the welcome e-mail and three orders

    first = await eventually(all_four, what="four notifications")
    assert [first["page"], first["page_size"], len(first["items"])] == [1, 20, 4]
    created = [i["created_at"] for i in first["items"]]
    assert created == sorted(created, reverse=True)
    page2 = await feed(gateway, customer.headers, page=2, page_size=3)
    assert page2["total"] == 4 and len(page2["items"]) == 1
    assert page2["items"][0]["id"] == first["items"][3]["id"]
    assert (await feed(gateway, customer.headers, page=3, page_size=3))["items"] == []
    assert {i["order_id"] for i in first["items"]} == {*order_ids, None}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/notifications?page=0", None),
    ("GET", "/api/notifications?page_size=101", None),
    ("GET", "/api/notifications?page=abc", None),
    ("GET", "/api/notifications?page=100000000000000000", None),
    ("GET", "/api/notifications?status=lost", None),
    ("GET", "/api/notifications?order_id=not-a-uuid", None),
    ("PATCH", "/api/notifications/{id}", {"read": True, "status": "sent"}),
    ("PATCH", "/api/notifications/{id}", {"read": "yes"}),
    ("PATCH", "/api/notifications/{id}", {}),
    ("PATCH", "/api/notifications/not-a-uuid", {"read": True}),
])
async def test_bad_input_is_a_4xx_problem(gateway: httpx.AsyncClient, customer: Customer,
                                          method: str, path: str,
                                          body: dict[str, Any] | None) -> None:
    r = await gateway.request(method, path.format(id=uuid.uuid4()), json=body,
                              headers=customer.headers)
    problem = is_problem(r)
    assert 400 <= r.status_code < 500, problem


async def test_the_feed_needs_a_token_and_dead_letters_need_an_admin(
        gateway: httpx.AsyncClient, customer: Customer) -> None:
    is_problem(await gateway.get("/api/notifications"), 401)
    is_problem(await gateway.patch(f"/api/notifications/{uuid.uuid4()}", json={"read": True}),
               401)
    is_problem(await gateway.get("/api/notifications/dead-letters", headers=customer.headers),
               403)

