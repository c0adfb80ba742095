"""What a shopper sees when an order does not go through, when someone else's order is
asked for, and when the shop ships."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    add_product,
    fill_address,
    make_product,
    new_context,
    place_order,
    register,
    shot,
)


def checkout(page: Page, payment: str = "Test card: approved") -> str:
    page.goto("/checkout")
    fill_address(page, payment)
    return place_order(page)


def test_a_declined_card_is_explained(page: Page) -> None:
    register(page)
    add_product(page, "Volt 65W USB-C Charger")
    checkout(page, "Test card: declined")
    expect(page.locator("#order-status")).to_have_text("Cancelled", timeout=30_000)
    expect(page.locator("#order-reason")).to_contain_text("payment was declined")
    expect(page.locator("#order-reason")).to_contain_text("nothing was charged")
    expect(page.locator("#order-refund")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    shot(page, "order-declined")


def test_an_item_that_sold_out_is_explained(page: Page, admin_api: httpx.Client) -> None:
    product = make_product(admin_api, stock=1)
    register(page)
    add_product(page, product["name"])
    # Someone else bought the last one between basket and checkout.
    r = admin_api.put(f"/api/inventory/{product['id']}", json={"on_hand": 0})
    assert r.status_code == 200, r.text
    # The catalog learns of it from inventory's stock.changed event (within a second or so).
    for _ in range(40):
        page.goto("/basket")
        if page.locator(".notice.warn, .notice.error").count():
            break
        page.wait_for_timeout(250)
    expect(page.locator("table.basket")).to_contain_text("Only 0 in stock")
    shot(page, "basket-sold-out")
    page.goto("/checkout")
    fill_address(page)
    expect(page.locator(".notice.warn")).to_contain_text("not in stock")
    # The order is taken; the workflow cannot reserve the stock and says so.
    place_order(page)
    expect(page.locator("#order-status")).to_have_text("Cancelled", timeout=30_000)
    expect(page.locator("#order-reason")).to_contain_text("out of stock")
    expect(page.locator("#order-reason")).to_contain_text("nothing was charged")
    shot(page, "out-of-stock")


def test_another_shoppers_order_is_not_found(page: Page, browser: Browser) -> None:
    register(page)
    add_product(page, "Beacon E-Reader")
    order_id = checkout(page)
    other = new_context(browser)
    try:
        stranger = other.new_page()
        register(stranger, name="Eve")
        response = stranger.goto(f"/orders/{order_id}")
        assert response is not None and response.status == 404
        expect(stranger.get_by_role("heading", level=1)).to_have_text("Page not found")
        expect(stranger.locator("body")).not_to_contain_text(order_id[:8])
        status = stranger.request.get(f"/orders/{order_id}/status")
        assert status.status == 404
        shot(stranger, "not-found")
    finally:
        other.close()


def test_the_shopper_sees_the_order_shipped(page: Page, admin_api: httpx.Client) -> None:
    register(page)
    add_product(page, "Atlas Portable SSD 1TB")
    order_id = checkout(page)
    expect(page.locator("#order-status")).to_have_text("Processing", timeout=30_000)
    r = admin_api.patch(f"/api/orders/{order_id}/status", json={
        "status": "shipped", "carrier": "DHL", "tracking_number": "JD0123456789"})
    assert r.status_code == 200, r.text
    # The open page follows by itself; shipped orders can no longer be cancelled.
    expect(page.locator("#order-status")).to_have_text("Shipped", timeout=30_000)
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    page.reload()
    expect(page.locator(".shipment")).to_contain_text("DHL")
    expect(page.locator(".shipment")).to_contain_text("JD0123456789")
    shot(page, "order-shipped")
