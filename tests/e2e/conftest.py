"""Browser tests: Playwright drives Debian's chromium (/usr/bin/chromium, installed by
scripts/bootstrap.sh; `playwright install` would download a browser, which cannot work
here) against the real stack, through the gateway like a shopper's browser.

Screenshots go to .local/screenshots/<name>-<width>.png (git-ignored).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.conftest import ROOT, stack

BASE = stack.GATEWAY_URL
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / ".local" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery staple"
ADDRESS = {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
           "postal_code": "N1 7AA", "country": "GB"}

expect.set_options(timeout=15_000)


# Module scope, not session: while sync_playwright() is open it keeps an event loop running
# on the main thread, and every async test after it could not start its own.
@pytest.fixture(scope="module")
def playwright_session() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap.sh (it installs chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield b
    b.close()


def new_context(browser: Browser, *, phone: bool = False, js: bool = True,
                **kw: Any) -> BrowserContext:
    ctx = browser.new_context(base_url=BASE, viewport=PHONE if phone else DESKTOP,
                              java_script_enabled=js, **kw)
    ctx.set_default_timeout(15_000)
    return ctx


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = SHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def unique_email(prefix: str = "shopper") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(page: Page, name: str = "Ada Lovelace", email: str | None = None) -> str:
    """Create an account through the register page (from wherever the page is)."""
    email = email or unique_email()
    if "/register" not in page.url:
        page.goto("/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flash.success")).to_contain_text("Welcome")
    return email


def add_product(page: Page, name: str, quantity: int = 1) -> None:
    """Search for a product by name, open it and add `quantity` to the basket."""
    page.goto(f"/products?search={name.replace(' ', '+')}")
    page.get_by_role("link", name=name, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to basket").click()
    expect(page.locator(".flash.success")).to_contain_text("is in your basket")


def fill_address(page: Page, payment: str = "Test card: approved") -> None:
    page.get_by_label("Full name").fill(ADDRESS["name"])
    page.get_by_label("Address", exact=True).fill(ADDRESS["line1"])
    page.get_by_label("City").fill(ADDRESS["city"])
    page.get_by_label("Postal code").fill(ADDRESS["postal_code"])
    page.get_by_label("Country code").fill(ADDRESS["country"])
    page.get_by_label(payment).check()


def place_order(page: Page) -> str:
    page.get_by_role("button", name=re.compile(r"^Place order")).click()
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def admin_api(platform: dict[str, str]) -> Iterator[httpx.Client]:
    """The admin, through the public API (the same gateway the browser uses)."""
    with httpx.Client(base_url=BASE, timeout=30) as client:
        r = client.post("/api/users/login", json={"email": platform["admin-email"],
                                                  "password": platform["admin-password"]})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield client


# The demo products the browser tests put in baskets. Other runs on this machine (benches,
# load tests) buy them too, so each gets stock back before the tests start.
USED = ("Pulse True Wireless Earbuds", "Glide Wireless Mouse", "Volt 65W USB-C Charger",
        "Beacon E-Reader", "Atlas Portable SSD 1TB", "Orbit Smart Speaker",
        "Keystone Mechanical Keyboard", "Chef's Knife 8-inch", "Aurora Wireless Headphones")


@pytest.fixture(scope="session", autouse=True)
def demo_stock(admin_api: httpx.Client) -> None:
    ids = []
    for name in USED:
        items = admin_api.get("/api/products", params={"search": f'"{name}"',
                                                       "page_size": 5}).json()["items"]
        (product,) = [p for p in items if p["name"] == name]
        level = admin_api.get(f"/api/inventory/{product['id']}").json()
        if level["available"] < 30:
            r = admin_api.put(f"/api/inventory/{product['id']}",
                              json={"on_hand": level["reserved"] + 100})
            assert r.status_code == 200, r.text
        ids.append(product["id"])
    # The catalog's stock follows inventory's events within a second or so.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        low = [i for i in ids if admin_api.get(f"/api/products/{i}",
                                               headers={"Cache-Control": "no-cache"}
                                               ).json()["stock_quantity"] < 30]
        if not low:
            return
        time.sleep(0.3)
    pytest.fail(f"the catalog did not show the new stock of {low}")


def make_product(admin_api: httpx.Client, stock: int, price: str = "12.50") -> dict[str, Any]:
    """A product of the `test` category (tests/conftest.py tidies those away)."""
    r = admin_api.post("/api/products", json={
        "name": f"E2E Lamp {uuid.uuid4().hex[:8]}", "price": price, "category": "test",
        "description": "A lamp made by a browser test.", "stock": stock})
    assert r.status_code == 201, r.text
    product: dict[str, Any] = r.json()
    return product
