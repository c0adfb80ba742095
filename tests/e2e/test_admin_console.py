"""The admin console in a real browser, on the real stack.

The journey: an admin creates a product with a picture and stock, a shopper buys it in the
storefront, the admin sees it on the dashboard and in the orders, ships it with a tracking
number, the shopper sees `shipped` with the tracking number and gets the e-mail (read from
the mail sink), and the audit trail lists each of those writes. Then: a validation error
next to its field, the 404 page for anyone but an admin, a dead letter redelivered, and
axe-core on every admin page.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import ROOT, sidecar_url
from tests.e2e.conftest import (
    BASE,
    PASSWORD,
    add_product,
    fill_address,
    make_product,
    new_context,
    place_order,
    register,
    shot,
)
from tests.mail import content, now_ns, wait_for_mail

DOCS_SHOT = ROOT / "docs" / "admin-dashboard.png"


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def admin(browser: Browser, platform: dict[str, str]) -> Iterator[Page]:
    """A browser signed in as the platform's admin; destructive forms are confirmed."""
    ctx: BrowserContext = new_context(browser)
    page = ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, platform["admin-email"], platform["admin-password"])
    yield page
    ctx.close()


def picture(path: Path) -> Path:
    """A real PNG (products decodes and re-encodes every upload)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 240), (58, 63, 184))
    ImageDraw.Draw(img).ellipse((40, 40, 200, 200), fill=(240, 165, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def figure(page: Page, element_id: str) -> int:
    return int(page.locator(f"#{element_id}").inner_text().replace(",", ""))


def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_the_admin_journey(admin: Page, page: Page, tmp_path: Path) -> None:
    # The admin reaches the console from the shop's header.
    admin.get_by_role("link", name="Admin", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Dashboard")
    orders_today = figure(admin, "kpi-orders-today")

    # A product with a picture (previewed before the upload) and stock.
    name = f"E2E Console Lamp {uuid.uuid4().hex[:6]}"
    nav = admin.locator(".admin-nav")
    nav.get_by_role("link", name="Products").click()
    admin.get_by_role("link", name="New product").click()
    admin.get_by_label("Name").fill(name)
    admin.get_by_label("Price (USD)").fill("24.50")
    admin.get_by_label("Category").fill("test")
    admin.get_by_label("Initial stock").fill("7")
    admin.get_by_label("Description").fill("A lamp made in the admin console.")
    admin.get_by_label("Picture").set_input_files(str(picture(tmp_path / "lamp.png")))
    expect(admin.locator("#new-picture-preview img")).to_be_visible()
    admin.get_by_role("button", name="Create product").click()
    expect(admin.locator(".flash.success")).to_contain_text("created with its picture")
    product_id = admin.url.rsplit("/", 1)[1]
    expect(admin.locator("#picture-preview img")).to_have_attribute(
        "src", re.compile(r"^/media/products/"))
    assert admin.evaluate("img => img.naturalWidth",
                          admin.locator("#picture-preview img").element_handle()) > 0
    expect(admin.locator("#on-hand")).to_have_text("7")
    admin.get_by_label("Units on hand").fill("9")
    admin.get_by_role("button", name="Set stock").click()
    expect(admin.locator(".flash.success")).to_have_text("Stock set to 9.")
    expect(admin.locator("#on-hand")).to_have_text("9")
    shot(admin, "admin-product")

    # A shopper buys it in the storefront; their pages never show an admin link.
    register(page)
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    add_product(page, name, 2)
    page.goto("/checkout")
    fill_address(page)
    order_id = place_order(page)
    expect(page.locator("#order-status")).to_have_text("Processing", timeout=30_000)

    # The dashboard counts it and lists it among the newest orders.
    admin.goto("/admin")
    assert figure(admin, "kpi-orders-today") >= orders_today + 1
    expect(admin.locator("#newest-orders")).to_contain_text(order_id[:8])
    expect(admin.locator("#low-stock")).to_be_visible()
    expect(admin.locator("#health")).to_contain_text("orders")
    expect(admin.locator("svg.chart")).to_have_count(3)
    dashboard = shot(admin, "admin-dashboard")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":  # a test run leaves docs/ alone
        shutil.copyfile(dashboard, DOCS_SHOT)

    # Orders: filter, open, ship with a carrier and a tracking number.
    nav.get_by_role("link", name="Orders").click()
    admin.get_by_label("Status").select_option("processing")
    admin.get_by_role("button", name="Filter").click()
    admin.get_by_role("link", name=order_id[:8]).click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text(order_id[:8])
    expect(admin.locator("#payment-state")).to_have_text("Paid")
    shot(admin, "admin-order")
    tracking = f"JD{uuid.uuid4().hex[:12].upper()}"
    since = now_ns()
    admin.get_by_label("Carrier").fill("DHL")
    admin.get_by_label("Tracking number").fill(tracking)
    admin.get_by_role("button", name="Mark shipped").click()
    # 200 once applied ("marked shipped"), or 202 while the workflow applies it.
    expect(admin.locator(".flash")).to_contain_text(re.compile("shipped|being applied"))
    until(lambda: admin.reload() and admin.locator("#order-status").inner_text() == "Shipped",
          "the order to be shipped")
    expect(admin.locator("#shipment")).to_contain_text(tracking)

    # The shopper sees it shipped, with the tracking number, and has the e-mail.
    page.goto(f"/orders/{order_id}")
    expect(page.locator("#order-status")).to_have_text("Shipped")
    expect(page.locator("#order-shipment")).to_contain_text(tracking)
    expect(page.locator("#order-shipment")).to_contain_text("DHL")
    [mail] = wait_for_mail(f"Order {order_id[:8].upper()} has shipped", 1, 30.0, since)
    assert tracking in content(mail) and "DHL" in content(mail)

    # The audit trail lists every write: the product, its picture, its stock, the shipment.
    admin.goto(f"/admin/audit?entity={product_id}")
    rows = admin.locator("#audit tbody tr")
    expect(rows).to_have_count(3)
    assert [r.get_attribute("data-action") for r in rows.all()] == [
        "stock.set", "product.update", "product.create"]
    expect(rows.nth(0)).to_contain_text("7")
    expect(rows.nth(0)).to_contain_text("9")
    expect(rows.nth(1)).to_contain_text("image url")
    expect(rows.nth(2)).to_contain_text(name)
    admin.goto(f"/admin/audit?entity={order_id}")
    expect(admin.locator("#audit tbody tr")).to_have_count(1)
    expect(admin.locator("#audit")).to_contain_text("Order status changed")
    expect(admin.locator("#audit")).to_contain_text(tracking)
    admin.goto("/admin/audit?action=product.create")
    expect(admin.locator("#audit")).to_contain_text(name)
    shot(admin, "admin-audit")


def test_the_apis_validation_error_is_shown_next_to_its_field(admin: Page) -> None:
    admin.goto("/admin/products/new")
    admin.get_by_label("Name").fill(f"E2E Bad Price {uuid.uuid4().hex[:6]}")
    admin.get_by_label("Price (USD)").fill("12.345")
    admin.get_by_label("Category").fill("test")
    admin.get_by_role("button", name="Create product").click()
    price = admin.get_by_label("Price (USD)")
    expect(price).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#e-price")).to_contain_text("two decimal places")
    expect(price).to_have_value("12.345")  # what was typed stays
    expect(admin.locator("#e-name")).to_have_count(0)
    shot(admin, "admin-validation")


def test_anyone_but_an_admin_gets_the_404_page_and_the_apis_403(
        browser: Browser, page: Page, admin_api: httpx.Client) -> None:
    product = make_product(admin_api, stock=1)
    some_id = str(uuid.uuid4())
    urls = ["/admin", "/admin/products", "/admin/products/new", f"/admin/products/{product['id']}",
            "/admin/orders", f"/admin/orders/{some_id}", "/admin/customers",
            f"/admin/customers/{some_id}", "/admin/dead-letters", "/admin/audit",
            "/admin/no-such-page"]
    posts = ["/admin/products/new", f"/admin/products/{product['id']}/delete",
             f"/admin/orders/{some_id}/ship", f"/admin/customers/{some_id}/role",
             "/admin/dead-letters/some-event/redeliver"]

    def all_404(p: Page) -> None:
        for url in urls:
            r = p.goto(url)
            assert r is not None and r.status == 404, (url, r and r.status)
            expect(p.get_by_role("heading", level=1)).to_have_text("Page not found")
            expect(p.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
        for url in posts:
            r = p.request.post(url, form={"role": "admin", "csrf_token": "x"})
            assert r.status == 404, (url, r.status)

    # Signed out ...
    anonymous = new_context(browser)
    all_404(anonymous.new_page())
    anonymous.close()
    # ... and signed in as a customer.
    email = register(page)
    all_404(page)
    assert admin_api.get(f"/api/products/{product['id']}").json()["active"] is True

    with httpx.Client(base_url=BASE, timeout=30) as c:
        token = c.post("/api/users/login", json={"email": email, "password": PASSWORD}
                       ).json()["token"]
        c.headers["Authorization"] = f"Bearer {token}"
        for method, path in (("GET", "/api/orders/stats"), ("GET", "/api/products/audit"),
                             ("GET", "/api/users"), ("GET", "/api/notifications/dead-letters"),
                             ("PUT", f"/api/inventory/{product['id']}"),
                             ("DELETE", f"/api/products/{product['id']}"),
                             ("POST", "/api/notifications/dead-letters/x/redeliver")):
            r = c.request(method, path, json={"on_hand": 5} if method == "PUT" else None)
            assert r.status_code == 403, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")


def test_a_dead_letter_is_redelivered_from_the_console(
        admin: Page, platform: dict[str, str]) -> None:
    # An event whose CloudEvent id is too long to keep: dead-lettered by notifications.
    event_id = f"e2e-dead-{uuid.uuid4()}-" + "x" * 200
    recipient = f"e2e-dead-{uuid.uuid4().hex[:10]}@example.com"
    data = {"type": "order.confirmed", "order_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()), "user_email": recipient, "status": "processing",
            "total": "9.99", "currency": "USD", "occurred_at": "2026-01-01T12:00:00Z",
            "items": [{"product_id": str(uuid.uuid4()), "name": "E2E mug", "quantity": 1,
                       "unit_price": "9.99", "line_total": "9.99"}]}
    r = httpx.post(f"{sidecar_url('orders')}/v1.0/publish/pubsub/orders",
                   headers={"dapr-api-token": platform["dapr-api-token"],
                            "content-type": "application/cloudevents+json"},
                   json={"specversion": "1.0", "id": event_id, "source": "e2e",
                         "type": "order.confirmed", "datacontenttype": "application/json",
                         "data": data}, timeout=10)
    assert r.status_code < 300, r.text

    row = admin.locator("#dead-letters tbody tr", has_text=event_id[:60])
    until(lambda: admin.goto("/admin/dead-letters") and row.count() == 1, "the dead letter")
    expect(row).to_contain_text("order.confirmed")
    since = now_ns()
    row.get_by_role("button", name=re.compile("^Redeliver")).click()
    expect(admin.locator(".flash.success")).to_contain_text("published again")
    expect(row).to_contain_text("published")
    shot(admin, "admin-dead-letters")
    # Published again with a fresh id, it is handled this time: the e-mail goes out.
    wait_for_mail(recipient, 1, 30.0, since)
    admin.goto("/admin/audit?action=dead_letter.redeliver")
    expect(admin.locator("#audit tbody tr").first).to_contain_text("Dead letter redelivered")


def test_every_admin_page_passes_axe(admin: Page, admin_api: httpx.Client) -> None:
    product = make_product(admin_api, stock=3)
    orders = admin_api.get("/api/orders", params={"page_size": "1"}).json()["items"]
    me = admin_api.get("/api/users/profile").json()
    pages = ["/admin", "/admin/products", "/admin/products/new",
             f"/admin/products/{product['id']}", "/admin/orders", "/admin/customers",
             f"/admin/customers/{me['id']}", "/admin/dead-letters", "/admin/audit"]
    if orders:
        pages.append(f"/admin/orders/{orders[0]['id']}")
    axe = Axe()
    found: dict[str, list[str]] = {}
    for url in pages:
        admin.goto(url)
        violations = axe.run(admin).response["violations"]
        bad = [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations
               if v.get("impact") in ("serious", "critical")]
        if bad:
            found[url] = bad
    assert found == {}
