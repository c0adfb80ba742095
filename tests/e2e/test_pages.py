"""Every page, at 1280 and 390 px: screenshots, axe-core with no serious or critical
violation, no inline script; the session cookie's flags; the shop by keyboard alone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import (
    add_product,
    fill_address,
    new_context,
    place_order,
    register,
    shot,
)

AXE = Axe()
SERIOUS = ("serious", "critical")


def serious_violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in SERIOUS]


def no_inline_script(page: Page) -> None:
    scripts = page.locator("script")
    for i in range(scripts.count()):
        script = scripts.nth(i)
        assert script.get_attribute("src"), "a <script> without src"
        assert not script.inner_html().strip(), "a <script> with a body"
    handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(
        el => [...el.attributes].filter(a => a.name.startsWith('on')).map(a => a.name))""")
    assert handlers == []


@pytest.fixture(scope="module")
def shopper(browser: Browser) -> Iterator[tuple[BrowserContext, str]]:
    """A signed-in shopper with one order and a basket line, shared by the page checks."""
    ctx = new_context(browser)
    page = ctx.new_page()
    register(page, name="Grace Hopper")
    add_product(page, "Keystone Mechanical Keyboard")
    page.goto("/checkout")
    fill_address(page)
    order_id = place_order(page)
    expect(page.locator("#order-status")).to_have_text("Processing", timeout=30_000)
    add_product(page, "Chef's Knife 8-inch")
    page.close()
    yield ctx, order_id
    ctx.close()


ANONYMOUS = {"home": "/", "catalog": "/products?category=Books", "search": "/products?search=tent",
             "login": "/login", "register": "/register", "404": "/no/such/page"}
SIGNED_IN = {"basket": "/basket", "checkout": "/checkout", "orders": "/orders",
             "account": "/account", "notifications": "/notifications"}


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_is_accessible_and_has_no_inline_script(
        browser: Browser, shopper: tuple[BrowserContext, str], width: int) -> None:
    ctx, order_id = shopper
    anonymous = new_context(browser, phone=width == 390)
    try:
        pages: list[tuple[str, Page, str]] = []
        guest = anonymous.new_page()
        product = "/products?search=keyboard"
        for name, path in {**ANONYMOUS, "product": product}.items():
            pages.append((name, guest, path))
        mine = ctx.new_page()
        mine.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
        for name, path in {**SIGNED_IN, "order": f"/orders/{order_id}"}.items():
            pages.append((name, mine, path))
        problems: dict[str, list[str]] = {}
        for name, page, path in pages:
            page.goto(path)
            if name == "product":
                page.get_by_role("link", name="Keystone Mechanical Keyboard").first.click()
                expect(page.get_by_role("heading", level=1)).to_be_visible()
            shot(page, name)
            no_inline_script(page)
            found = serious_violations(page)
            if found:
                problems[name] = found
        assert problems == {}
        mine.close()
    finally:
        anonymous.close()


def test_session_cookie_flags(page: Page) -> None:
    page.goto("/")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "shop_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; Secure behind TLS (integration test)
    assert cookie["path"] == "/"
    # Script cannot read it.
    assert "shop_session" not in page.evaluate("document.cookie")


def test_forged_or_missing_csrf_is_refused_in_the_browser(page: Page) -> None:
    page.goto("/products?search=speaker")
    page.get_by_role("link", name="Orbit Smart Speaker").first.click()
    page.locator("input[name=csrf_token]").evaluate("el => el.value = 'forged-token'")
    page.get_by_role("button", name="Add to basket").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    expect(page.locator("main")).to_contain_text("reload the page")
    page.go_back()
    page.reload()
    page.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    page.get_by_role("button", name="Add to basket").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    page.goto("/basket")
    expect(page.get_by_text("Your basket is empty.")).to_be_visible()


def test_the_shop_by_keyboard(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Search, open a product and add it, with the keyboard only.
    page.goto("/")
    page.locator("#q").focus()
    page.keyboard.type("headphones")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/products\?search=headphones"))
    link = page.get_by_role("link", name="Aurora Wireless Headphones").first
    for _ in range(60):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the product link is not reachable by Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aurora Wireless Headphones")
    button = page.get_by_role("button", name="Add to basket")
    for _ in range(40):
        page.keyboard.press("Tab")
        if button.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Add to basket is not reachable by Tab")
    # The focused control shows where the keyboard is.
    outline = button.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page.locator(".flash.success")).to_contain_text("is in your basket")
