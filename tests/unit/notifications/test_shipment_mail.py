"""The shipping e-mail carries the carrier and tracking number the admin gave (escaped)."""

from __future__ import annotations

from services.notifications.rendering import Renderer, draft_for
from tests.unit.notifications.test_rendering import order


def test_the_shipping_mail_carries_carrier_and_tracking_number() -> None:
    draft = draft_for("order.shipped", order(status="shipped", carrier="DHL <Express>",
                                             tracking_number="JD0146"), Renderer())
    assert draft is not None
    assert "Carrier: DHL <Express>" in draft.text and "Tracking number: JD0146" in draft.text
    assert "DHL &lt;Express&gt;" in draft.html and "<strong>JD0146</strong>" in draft.html


def test_without_them_the_mail_has_no_shipment_lines() -> None:
    draft = draft_for("order.shipped", order(status="shipped"), Renderer())
    assert draft is not None
    assert "Tracking" not in draft.text and "Carrier" not in draft.html
