"""The storefront pages the account e-mails link to, through the gateway as a browser:
confirming the address from the welcome e-mail (and resending it from the account page),
asking for a password-reset link, and choosing a new password. The links are read from
the real e-mails in the SMTP sink (tests/mail.py)."""

from __future__ import annotations

import re

import httpx

from tests.clients import client_from
from tests.conftest import unique_email
from tests.integration.web.test_storefront import BROWSER, csrf_of
from tests.mail import link_tokens, messages, now_ns

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a fresh passphrase for the shop"
USED = "expired or was already used"


def browser() -> httpx.AsyncClient:
    """A browser from an address of its own (the reset limits count per address)."""
    return client_from(headers=BROWSER)


async def sign_up(client: httpx.AsyncClient, name: str) -> str:
    email = unique_email(name.lower().replace(" ", "-"))
    token = csrf_of((await client.get("/register")).text)
    r = await client.post("/register", data={"name": name, "email": email,
                                             "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return email


async def post_form(client: httpx.AsyncClient, page: str, action: str,
                    data: dict[str, str]) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={**data, "csrf_token": token})


async def test_the_welcome_link_confirms_the_address_after_a_click() -> None:
    since = now_ns()
    async with browser() as shopper:
        email = await sign_up(shopper, "Vera Verify")
        account = await shopper.get("/account")
        assert "Not confirmed yet" in account.text
        assert 'action="/account/verify-email/resend"' in account.text
        [token] = link_tokens(email, "account/verify-email", since)

        # Opening the link (as a mail scanner would) spends nothing: it asks for a click.
        page = await shopper.get(f"/account/verify-email?token={token}")
        assert page.status_code == 200 and "Confirm my e-mail address" in page.text
        assert f'name="token" value="{token}"' in page.text
        assert "Not confirmed yet" in (await shopper.get("/account")).text
        # The click is a form post like every other: no CSRF token, no change.
        forged = await shopper.post("/account/verify-email", data={"token": token})
        assert forged.status_code == 403
        done = await post_form(shopper, f"/account/verify-email?token={token}",
                               "/account/verify-email", {"token": token})
        assert done.status_code == 200, done.text
        assert "Your e-mail address is confirmed" in done.text and email in done.text
        account = await shopper.get("/account")
        assert "is confirmed" in account.text and "Not confirmed yet" not in account.text
        assert "/account/verify-email/resend" not in account.text
        # A second use of the link is a friendly page, not an error.
        again = await post_form(shopper, f"/account/verify-email?token={token}",
                                "/account/verify-email", {"token": token})
        assert again.status_code == 422 and USED in again.text
    # A signed-out visitor with a mangled link gets the same explanation.
    async with browser() as visitor:
        for bad in ("", "?token=short", "?token=" + "x" * 200):
            r = await visitor.get(f"/account/verify-email{bad}")
            assert r.status_code == 400 and USED in r.text and "Traceback" not in r.text
        r = await post_form(visitor, "/login", "/account/verify-email", {"token": "x" * 43})
        assert r.status_code == 422 and USED in r.text and "Sign in" in r.text


async def test_the_account_page_resends_the_confirmation_e_mail() -> None:
    since = now_ns()
    async with browser() as shopper:
        email = await sign_up(shopper, "Lost Letter")
        [first] = link_tokens(email, "account/verify-email", since)
        r = await post_form(shopper, "/account", "/account/verify-email/resend", {})
        assert r.status_code == 303 and r.headers["location"] == "/account"
        assert "new confirmation e-mail" in (await shopper.get("/account")).text
        second = link_tokens(email, "account/verify-email", since, 2)[1]
        assert second != first
        old = await post_form(shopper, "/account", "/account/verify-email", {"token": first})
        assert old.status_code == 422 and USED in old.text
        ok = await post_form(shopper, "/account", "/account/verify-email", {"token": second})
        assert ok.status_code == 200 and "is confirmed" in ok.text
        # Once confirmed, a resend (an old tab) says so instead of failing.
        r = await post_form(shopper, "/login", "/account/verify-email/resend", {})
        assert r.status_code == 303
        assert "already confirmed" in (await shopper.get("/account")).text
    async with browser() as visitor:  # signed out: the sign-in page, then back
        r = await post_form(visitor, "/login", "/account/verify-email/resend", {})
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login")


async def test_forgot_password_answers_alike_and_slows_down_a_flood() -> None:
    async with browser() as shopper:
        email = await sign_up(shopper, "Known Shopper")
    ghost = unique_email("ghost")
    async with browser() as visitor:
        login = (await visitor.get("/login")).text
        assert 'href="/account/forgot-password"' in login and "Forgot your password?" in login
        form = await visitor.get("/account/forgot-password")
        assert form.status_code == 200 and 'name="email"' in form.text
        since = now_ns()
        answers = []
        for address in (email, ghost):
            r = await post_form(visitor, "/account/forgot-password",
                                "/account/forgot-password", {"email": address})
            assert r.status_code == 200, r.text
            notice = re.search(r'id="reset-sent">([^<]+)<', r.text)
            assert notice, r.text
            answers.append(notice.group(1).replace(address, "ADDRESS"))
        assert answers[0] == answers[1] and "ADDRESS" in answers[0]
        assert link_tokens(email, "account/reset-password", since)
        assert not messages(ghost, since)
        # A mistyped address is an inline error on the form.
        r = await post_form(visitor, "/account/forgot-password", "/account/forgot-password",
                            {"email": "not-an-address"})
        assert r.status_code == 422 and 'aria-invalid="true"' in r.text
        assert "you@example.com" in r.text
        # Three links per address in the window, then the page asks to wait.
        for expected in (200, 200, 429):
            r = await post_form(visitor, "/account/forgot-password",
                                "/account/forgot-password", {"email": email})
            assert r.status_code == expected, (expected, r.status_code)
        assert "Slow down" in r.text and int(r.headers["retry-after"]) >= 1
        assert "Traceback" not in r.text


async def test_a_reset_link_sets_a_new_password_and_signs_out() -> None:
    async with browser() as shopper:
        email = await sign_up(shopper, "Reset Rita")
        since = now_ns()
        r = await post_form(shopper, "/account/forgot-password", "/account/forgot-password",
                            {"email": email})
        assert r.status_code == 200
        [token] = link_tokens(email, "account/reset-password", since)
        page = f"/account/reset-password?token={token}"
        form = await shopper.get(page)
        assert form.status_code == 200 and "Choose a new password" in form.text
        assert 'autocomplete="new-password"' in form.text
        # Inline errors; the link is not spent by them.
        r = await post_form(shopper, page, "/account/reset-password",
                            {"token": token, "password": "short", "confirm": "short"})
        assert r.status_code == 422 and "Use 8 to 128 characters." in r.text
        assert 'id="e-password"' in r.text
        r = await post_form(shopper, page, "/account/reset-password",
                            {"token": token, "password": NEW_PASSWORD, "confirm": "other one"})
        assert r.status_code == 422 and "not the same" in r.text and 'id="e-confirm"' in r.text
        r = await post_form(shopper, page, "/account/reset-password",
                            {"token": token, "password": NEW_PASSWORD,
                             "confirm": NEW_PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/account"
        signin = await shopper.get("/login?next=/account")
        assert "Sign in with the new password" in signin.text
        # This browser was signed in: it is signed out like every other session.
        r = await shopper.get("/account")
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login")
        # The link worked once.
        again = await shopper.get(page)
        assert again.status_code == 200  # the page cannot know before trying
        r = await post_form(shopper, page, "/account/reset-password",
                            {"token": token, "password": "yet another passphrase",
                             "confirm": "yet another passphrase"})
        assert r.status_code == 422 and USED in r.text
        assert 'href="/account/forgot-password"' in r.text
        # The old password is refused, the new one signs in.
        old = await post_form(shopper, "/login", "/login",
                              {"email": email, "password": PASSWORD})
        assert old.status_code == 401 and "not right" in old.text
        new = await post_form(shopper, "/login", "/login",
                              {"email": email, "password": NEW_PASSWORD, "next": "/account"})
        assert new.status_code == 303 and new.headers["location"] == "/account"
        assert "is confirmed" in (await shopper.get("/account")).text  # the link proved it
    async with browser() as visitor:
        r = await visitor.get("/account/reset-password")
        assert r.status_code == 400 and USED in r.text and "Traceback" not in r.text
