"""The storefront behind the gateway, without a browser: routing, security headers, the
session cookie, CSRF, pictures (upload and serving) and the friendly error pages."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image

from tests.conftest import is_problem, register_customer

HTML = "text/html"
# What a browser sends on a navigation; without it, the web app answers errors as
# problem+json (an API client that strayed outside /api).
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def browser_client() -> httpx.AsyncClient:
    from tests.conftest import stack

    return httpx.AsyncClient(base_url=stack.GATEWAY_URL, timeout=30, headers=BROWSER)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def first_product(gateway: httpx.AsyncClient) -> dict:
    r = await gateway.get("/api/products", params={"page_size": 1, "in_stock": "true"})
    return r.json()["items"][0]


async def test_the_gateway_owns_its_paths_and_forwards_the_rest(
        gateway: httpx.AsyncClient) -> None:
    home = await gateway.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith(HTML)
    assert "<h1>" in home.text and "Dapr Shop" in home.text
    info = await gateway.get("/api")
    assert info.json()["services"]["products"] == "/api/products" and info.json()["shop"] == "/"
    health = (await gateway.get("/health")).json()
    assert health["services"]["web"] == "ok"
    is_problem(await gateway.get("/api/nope"), 404)  # the API's own 404 stays JSON
    missing = await gateway.get("/no/such/page", headers=BROWSER)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(HTML)
    assert "Page not found" in missing.text and "Traceback" not in missing.text


async def test_security_headers_and_session_cookie(dapr_headers: dict[str, str]) -> None:
    from tests.conftest import invoker

    async with browser_client() as browser:
        r = await browser.get("/products")
        again = await browser.get("/products")
    assert "set-cookie" not in again.headers  # one session id, set once
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    # Behind TLS the cookie is Secure: the gateway says which scheme the browser used (from
    # a trusted proxy's X-Forwarded-Proto; none is trusted locally, so ask as the gateway).
    async with invoker("gateway", "web", dapr_headers) as as_gateway:
        tls = await as_gateway.get("/products", headers={"x-forwarded-proto": "https"})
    assert tls.headers["set-cookie"].endswith("; Secure")
    # A client cannot claim TLS itself: no proxy is trusted here.
    async with browser_client() as browser:
        plain = await browser.get("/products", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in plain.headers["set-cookie"]
    # Pages carry no inline script: every <script> has a src and no body, no on* handlers.
    for tag in re.findall(r"<script\b[^>]*>.*?</script>", r.text, re.S):
        assert re.match(r'<script src="/static/[^"]+"[^>]*></script>$', tag), tag
    assert not re.search(r"\son[a-z]+\s*=", r.text)


async def test_forms_need_the_sessions_csrf_token() -> None:
    from tests.conftest import stack

    async with browser_client() as browser:
        r = await browser.get("/login")
        token = csrf_of(r.text)
        form = {"email": "nobody@example.com", "password": "wrong password here"}
        missing = await browser.post("/login", data=form)
        assert missing.status_code == 403 and "expired" in missing.text
        forged = await browser.post("/login", data={**form, "csrf_token": "x" * 43})
        assert forged.status_code == 403
        other_site = await browser.post("/login", data={**form, "csrf_token": token},
                                        headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 403
        ok = await browser.post("/login", data={**form, "csrf_token": token},
                                headers={"Origin": stack.GATEWAY_URL})
        assert ok.status_code in (401, 422) and "not right" in ok.text
    # Another session's token is no good either.
    async with browser_client() as other:
        await other.get("/login")
        stolen = await other.post("/login", data={**form, "csrf_token": token})
        assert stolen.status_code == 403


async def test_pictures_are_served_as_images_only(gateway: httpx.AsyncClient) -> None:
    # A seeded product: the newest may be one a test made without a picture.
    listing = (await gateway.get("/api/products", params={"page_size": 100})).json()["items"]
    product = next(p for p in listing if (p["image_url"] or "").startswith("/media/"))
    assert product["image_url"].startswith("/media/products/")
    r = await gateway.get(product["image_url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in r.headers["cache-control"]
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.format == "WEBP"
    for bad in ("/media/products/x.html", "/media/../secrets.json", "/media/products/",
                "/media/products/" + product["id"] + "-0123456789abcdef.svg"):
        assert (await gateway.get(bad)).status_code in (400, 404), bad


async def test_picture_upload_is_for_admins_and_checks_the_file(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    product = await first_product(gateway)
    url = f"/api/products/{product['id']}/image"
    png = io.BytesIO()
    Image.new("RGB", (80, 60), (10, 120, 200)).save(png, "PNG")
    body = png.getvalue()
    is_problem(await gateway.put(url, content=body, headers={"Content-Type": "image/png"}), 401)
    customer = await register_customer(gateway)
    is_problem(await gateway.put(url, content=body, headers={
        "Content-Type": "image/png", **customer.headers}), 403)
    is_problem(await gateway.put(url, content=b"<html><script>alert(1)</script>", headers={
        "Content-Type": "image/png", **admin_headers}), 422)
    is_problem(await gateway.put(url, content=b"<svg/>", headers={
        "Content-Type": "image/svg+xml", **admin_headers}), 415)
    is_problem(await gateway.put(url, content=b"\0" * ((1 << 20) + 10), headers={
        "Content-Type": "image/png", **admin_headers}), 413)
    is_problem(await gateway.put("/api/products/00000000-0000-0000-0000-000000000000/image",
                                 content=body, headers={"Content-Type": "image/png",
                                                        **admin_headers}), 404)
    # A real picture replaces the old one; the old name keeps serving what it served.
    r = await gateway.put(url, content=body, headers={"Content-Type": "image/png",
                                                      **admin_headers})
    assert r.status_code == 200, r.text
    new_url = r.json()["image_url"]
    assert new_url != product["image_url"] and new_url.startswith("/media/products/")
    served = await gateway.get(new_url)
    with Image.open(io.BytesIO(served.content)) as img:
        assert img.size == (80, 60)
    # Put the seeded picture back (the name holds the content hash, so it is still there).
    restore = await gateway.patch(f"/api/products/{product['id']}", headers=admin_headers,
                                  json={"image_url": product["image_url"]})
    assert restore.status_code == 200, restore.text


async def test_too_many_attempts_get_the_rate_limit_page() -> None:
    """The shopper's address reaches the API's limits through the storefront: failed logins
    from one address are cut off (users' per-address limit), and the page says to wait."""
    import asyncio

    from tests.conftest import unique_email

    async with browser_client() as browser:
        token = csrf_of((await browser.get("/login")).text)
        for _ in range(40):  # bounded: the local limit is 10 failures per 5 s
            r = await browser.post("/login", data={
                "email": unique_email(), "password": "not the password", "csrf_token": token})
            if r.status_code == 429:
                break
        assert r.status_code == 429, r.status_code
        assert "Slow down" in r.text and "Traceback" not in r.text
        wait = int(r.headers["retry-after"])
        assert 1 <= wait <= 900
    await asyncio.sleep(min(wait, 10) + 1)  # the other tests log in from this address too


async def test_a_service_down_is_a_friendly_page_not_a_traceback(
        secrets: dict[str, str]) -> None:
    import asyncio
    import uuid

    from tests.conftest import stack

    products = stack.app_by_id("products")
    await asyncio.to_thread(products.app_proc(secrets).stop)
    try:
        async with browser_client() as browser:
            # A search nobody made before: no cache can answer it.
            r = await browser.get("/products", params={"search": uuid.uuid4().hex})
        assert r.status_code == 503
        assert r.headers["content-type"].startswith(HTML)
        assert "Part of the shop is unavailable" in r.text and "Traceback" not in r.text
        assert r.headers["retry-after"]
    finally:
        await asyncio.to_thread(stack.restart_app, "products", sidecar=False)
