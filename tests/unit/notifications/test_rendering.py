"""Rendering and reading events in the notifications service (pure code, no stack)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.common.events import CloudEvent
from services.common.settings import ConfigError
from services.notifications.rendering import (
    BadEvent,
    Renderer,
    clean_header,
    draft_for,
    event_type,
    valid_recipient,
)
from services.notifications.settings import DEFAULT_MAX_ATTEMPTS
from services.notifications.settings import load as load_config


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def order(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": "6f1c2d3e-0000-4000-8000-000000000001",
        "user_id": str(uuid.uuid4()), "user_email": "buyer@example.com",
        "status": "processing", "total": "28.99", "currency": "USD",
        "items": [
            {"product_id": str(uuid.uuid4()), "name": "Mug <large> & co", "quantity": 2,
             "unit_price": "12.50", "line_total": "25.00"},
            {"product_id": str(uuid.uuid4()), "name": "Beans", "quantity": 1, "unit_price": 3.99,
             "line_total": 3.99},
        ],
        "occurred_at": "2026-01-01T12:00:00Z",
    }
    data.update(overrides)
    return data


def test_order_confirmed_renders_lines_totals_and_status(renderer: Renderer) -> None:
    draft = draft_for("order.confirmed", order(), renderer)
    assert draft is not None
    assert draft.kind == "order_confirmed" and draft.subject == "Order 6F1C2D3E confirmed"
    assert draft.recipient == "buyer@example.com"
    assert str(draft.order_id) == "6f1c2d3e-0000-4000-8000-000000000001"
    assert "2 x Mug <large> & co @ 12.50 USD = 25.00 USD" in draft.text
    assert "1 x Beans @ 3.99 USD = 3.99 USD" in draft.text
    assert "Total: 28.99 USD" in draft.text and "Status: processing" in draft.text
    assert "Mug &lt;large&gt; &amp; co" in draft.html and "<large>" not in draft.html
    assert "<strong>processing</strong>" in draft.html and "28.99 USD" in draft.html


@pytest.mark.parametrize(("etype", "subject", "status"), [
    ("order.cancelled", "Order 6F1C2D3E cancelled", "cancelled"),
    ("order.shipped", "Order 6F1C2D3E has shipped", "shipped"),
    ("order.delivered", "Order 6F1C2D3E delivered", "delivered"),
])
def test_each_order_step_has_its_own_subject(renderer: Renderer, etype: str, subject: str,
                                             status: str) -> None:
    draft = draft_for(etype, order(status=""), renderer)
    assert draft is not None and draft.subject == subject
    assert f"Status: {status}" in draft.text  # defaulted from the event when not given


def test_cancellation_reason_is_explained_and_escaped(renderer: Renderer) -> None:
    draft = draft_for("order.cancelled", order(status="cancelled", reason="out_of_stock"),
                      renderer)
    assert draft is not None
    assert "Reason: Some of the items are out of stock. (out_of_stock)" in draft.text
    odd = draft_for("order.cancelled", order(reason="<i>odd</i>"), renderer)
    assert odd is not None and "&lt;i&gt;odd&lt;/i&gt;" in odd.html and "<i>" not in odd.html
    # Only a cancellation shows a reason.
    shipped = draft_for("order.shipped", order(reason="out_of_stock"), renderer)
    assert shipped is not None and "Reason" not in shipped.text


def test_welcome_escapes_the_name_in_html_only(renderer: Renderer) -> None:
    draft = draft_for("user.registered", {"user_id": str(uuid.uuid4()),
                                          "email": "new@example.com",
                                          "name": "Zoë <script>x</script>"}, renderer)
    assert draft is not None and draft.kind == "welcome" and draft.order_id is None
    assert "Zoë &lt;script&gt;x&lt;/script&gt;" in draft.html and "<script>" not in draft.html
    assert "Welcome, Zoë <script>x</script>!" in draft.text
    assert draft.subject == "Welcome to the shop, Zoë <script>x</script>"


def test_header_injection_is_impossible(renderer: Renderer) -> None:
    draft = draft_for("user.registered", {"user_id": str(uuid.uuid4()), "email": "n@example.com",
                                          "name": "Eve\r\nBcc: all@example.com"}, renderer)
    assert draft is not None and "\n" not in draft.subject and "\r" not in draft.subject
    assert clean_header("a\x00b\tc  d" + "x" * 300, 20) == "a b c d" + "x" * 12 + "…"


@pytest.mark.parametrize("address", [None, "", "no-at-sign", "a@b", "a@example.com;b@x.com",
                                     "a@example.com, b@x.com", "a b@example.com",
                                     "a@example.com\nBcc: x@y.z", "<a@example.com>"])
def test_unusable_recipients_are_refused(address: str | None) -> None:
    with pytest.raises(BadEvent):
        valid_recipient(address)


def test_the_recipient_is_the_one_field_the_contract_names(renderer: Renderer) -> None:
    # One spelling per field (services.common.contracts.events): `email` is not read as a
    # second name of an order event's `user_email`, nor `user_email` of a welcome's `email`.
    with pytest.raises(BadEvent):
        draft_for("order.shipped", order(user_email=None, email="alt@example.com"), renderer)
    draft = draft_for("order.shipped", order(email="alt@example.com"), renderer)
    assert draft is not None and draft.recipient == "buyer@example.com"
    with pytest.raises(BadEvent):
        draft_for("user.registered", {"user_id": str(uuid.uuid4()), "name": "N",
                                      "user_email": "n@example.com"}, renderer)


@pytest.mark.parametrize("data", [
    order(order_id="not-a-uuid"), order(total="lots"), order(items=[{"name": "x"}]),
    {k: v for k, v in order().items() if k != "user_id"}, order(user_email="bad"),
])
def test_malformed_order_events_are_bad(renderer: Renderer, data: dict[str, Any]) -> None:
    with pytest.raises(BadEvent):
        draft_for("order.confirmed", data, renderer)


def test_created_and_unknown_events_send_nothing(renderer: Renderer) -> None:
    assert draft_for("order.created", order(), renderer) is None
    assert draft_for("product.updated", {"id": "x"}, renderer) is None


def test_event_type_comes_from_the_cloudevent_or_the_data() -> None:
    assert event_type(CloudEvent(id="1", type="order.shipped", data={})) == "order.shipped"
    wrapped = CloudEvent(id="2", type="com.dapr.event.sent", data={"type": "user.registered"})
    assert event_type(wrapped) == "user.registered"


def test_max_attempts_is_read_and_checked() -> None:
    assert load_config({}).max_attempts == DEFAULT_MAX_ATTEMPTS
    assert load_config({"NOTIFICATIONS_MAX_ATTEMPTS": "3"}).max_attempts == 3
    for bad in ("0", "-1", "many", "101"):
        with pytest.raises(ConfigError):
            load_config({"NOTIFICATIONS_MAX_ATTEMPTS": bad})
