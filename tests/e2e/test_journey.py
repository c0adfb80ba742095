"""The main journey in a real browser: a guest browses, searches with a typo, filters, adds
two products, registers (the guest basket is merged), checks out, sees the order reach
`processing` without reloading, cancels it and sees the refund."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.e2e.conftest import add_product, fill_address, place_order, register, shot


def prices(page: Page) -> list[Decimal]:
    return [Decimal(t.replace("$", "").replace(",", ""))
            for t in page.locator(".grid .price").all_inner_texts()]


def test_guest_to_cancelled_order(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_title(re.compile("Dapr Shop"))
    expect(page.get_by_role("heading", name="Shop by category")).to_be_visible()
    # Every product card has a picture of its own, served by the platform.
    first = page.locator(".grid img").first
    expect(first).to_be_visible()
    assert first.get_attribute("src", timeout=5000).startswith("/media/products/")
    assert page.evaluate("img => img.naturalWidth", first.element_handle()) > 0
    shot(page, "home")

    # A typo still finds the headphones (the API's trigram fallback).
    page.get_by_role("searchbox", name="Search products").fill("hedphones")
    page.get_by_role("searchbox", name="Search products").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “hedphones”")
    expect(page.get_by_role("link", name="Aurora Wireless Headphones")).to_be_visible()

    # Filters live in the URL, so a filtered page can be shared.
    page.goto("/products")
    page.get_by_label("Category").select_option("Electronics")
    page.get_by_label("Highest price").fill("100")
    page.get_by_label("Sort by").select_option("price")
    page.get_by_role("button", name="Apply").click()
    query = parse_qs(urlsplit(page.url).query)
    assert query["category"] == ["Electronics"] and query["max_price"] == ["100"]
    found = prices(page)
    assert found and all(p <= 100 for p in found) and found == sorted(found)
    shot(page, "catalog")
    shared = page.url
    page.goto(shared)
    assert prices(page) == found

    add_product(page, "Pulse True Wireless Earbuds", 1)
    shot(page, "product")
    add_product(page, "Glide Wireless Mouse", 2)
    expect(page.locator(".basket-link .badge")).to_have_text("3")
    page.get_by_role("link", name=re.compile("^Basket")).click()
    expect(page.locator("table.basket tbody tr")).to_have_count(2)
    expect(page.locator("table.basket tfoot")).to_contain_text("$178.00")
    shot(page, "basket")

    # Checking out needs an account: the guest registers and keeps the basket.
    page.get_by_role("link", name="Check out").click()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcheckout$"))
    page.get_by_role("link", name="Create an account").click()
    register(page)
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".summary-box")).to_contain_text("Pulse True Wireless Earbuds")
    expect(page.locator(".summary-box")).to_contain_text("2 \u00d7 Glide Wireless Mouse")

    # Inline validation: a missing address is explained next to its field.
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    expect(page.locator("#e-line1")).to_have_text("Address is required.")
    fill_address(page)
    expect(page.locator("#e-line1")).to_be_hidden()  # the script clears it once edited
    shot(page, "checkout")
    order_id = place_order(page)

    # The page follows the workflow by itself: no reload between pending and processing.
    page.evaluate("window.__same_page = true")
    expect(page.locator("#order-status")).to_have_text("Processing", timeout=30_000)
    assert page.evaluate("window.__same_page") is True
    expect(page.locator(".basket-link .badge")).to_have_count(0)  # the basket is empty now
    shot(page, "order-processing")

    page.get_by_role("button", name="Cancel order").click()
    expect(page.locator("#order-status")).to_have_text("Cancelled", timeout=30_000)
    expect(page.locator("#order-refund")).to_contain_text("has been refunded",
                                                          timeout=30_000)
    expect(page.locator("#order-reason")).to_have_text("You cancelled this order.")
    shot(page, "order-cancelled")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("link", name=order_id[:8])).to_be_visible()
    expect(page.locator("table.orders")).to_contain_text("Cancelled")
