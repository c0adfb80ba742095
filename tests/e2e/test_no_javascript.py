"""The shop without JavaScript: browsing, basket, sign-up and checkout are plain links and
forms, and the order page refreshes itself until the order is final."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import add_product, fill_address, new_context, place_order, register


def test_the_journey_without_javascript_reaches_processing(browser: Browser) -> None:
    ctx = new_context(browser, js=False)
    try:
        page = ctx.new_page()
        page.goto("/")
        assert page.evaluate("1 + 1") == 2  # Playwright's own world still runs
        add_product(page, "Orbit Smart Speaker")
        page.goto("/basket")
        # Changing a quantity is a form post.
        page.get_by_label("Quantity of Orbit Smart Speaker").fill("2")
        page.get_by_role("button", name="Update").click()
        expect(page.locator("table.basket tfoot")).to_contain_text("$198.00")
        page.get_by_role("link", name="Check out").click()
        page.get_by_role("link", name="Create an account").click()
        register(page)
        expect(page).to_have_url(re.compile(r"/checkout$"))
        fill_address(page)
        place_order(page)
        # No script: the page's <noscript> refresh brings the new status.
        expect(page.locator("#order-status")).to_have_text("Processing", timeout=40_000)
    finally:
        ctx.close()
