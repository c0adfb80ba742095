"""Server-side sessions: what the statestore holds, and the transparent token refresh."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any

import httpx

from tests.conftest import sidecar_url, stack, unique_email
from tests.integration.web.test_storefront import BROWSER, csrf_of


def state_key(sid: str) -> str:
    return "web-session-" + hashlib.sha256(sid.encode()).hexdigest()[:40]


async def read_session(sid: str, dapr_headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{sidecar_url('web')}/v1.0/state/statestore/{state_key(sid)}",
                        headers=dapr_headers)
    assert r.status_code == 200, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    return body


async def write_session(sid: str, value: dict[str, Any], dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{sidecar_url('web')}/v1.0/state/statestore",
                         json=[{"key": state_key(sid), "value": value}], headers=dapr_headers)
    assert r.status_code < 300, r.text


async def test_tokens_stay_on_the_server_and_are_refreshed(
        dapr_headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=stack.GATEWAY_URL, timeout=30,
                                 headers=BROWSER) as browser:
        await browser.get("/register")
        guest_sid = browser.cookies["shop_session"]
        token = csrf_of((await browser.get("/register")).text)
        email = unique_email("session")
        r = await browser.post("/register", data={
            "name": "Sam", "email": email, "password": "correct horse battery staple",
            "csrf_token": token, "next": "/account"})
        assert r.status_code == 303 and r.headers["location"] == "/account"
        sid = browser.cookies["shop_session"]
        assert sid != guest_sid  # a new id at sign-in: no session fixation
        session = await read_session(sid, dapr_headers)
        assert session["user"]["email"] == email
        assert session["access_token"] and session["refresh_token"]
        # The browser never sees a token.
        page = (await browser.get("/account")).text
        assert session["access_token"] not in page and session["refresh_token"] not in page
        assert email in page

        # The access token has run out: the next page refreshes it without a word.
        session["access_expires"] = 0
        await write_session(sid, session, dapr_headers)
        r = await browser.get("/account")
        assert r.status_code == 200 and email in r.text
        after = await read_session(sid, dapr_headers)
        assert after["refresh_token"] != session["refresh_token"]  # rotated
        assert after["access_expires"] > time.time() + 60

        # Several pages at once with a stale token share one refresh (a refresh token is
        # single use: a second use would end the session).
        after["access_expires"] = 0
        await write_session(sid, after, dapr_headers)
        pages = await asyncio.gather(*(browser.get(p) for p in
                                       ("/orders", "/account", "/notifications", "/basket")))
        assert [p.status_code for p in pages] == [200] * 4
        r = await browser.get("/account")
        assert r.status_code == 200 and email in r.text

        # Signing out ends the session on the server too.
        token = csrf_of(r.text)
        r = await browser.post("/logout", data={"csrf_token": token})
        assert r.status_code == 303
        async with httpx.AsyncClient() as c:
            gone = await c.get(f"{sidecar_url('web')}/v1.0/state/statestore/{state_key(sid)}",
                               headers=dapr_headers)
        assert gone.status_code == 204 or not gone.content
        r = await browser.get("/account")
        assert r.status_code == 303 and re.match(r"/login\?next=", r.headers["location"])
