"""The account e-mails in a browser: the welcome e-mail's link confirms the address (the
account page says so), and a forgotten password is replaced through the e-mailed link, then
used to sign in. The links come from the real e-mails in the SMTP sink; every new page is
checked with axe-core and for inline script."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PASSWORD, PHONE, register, shot
from tests.e2e.test_pages import no_inline_script, serious_violations
from tests.mail import link_tokens, now_ns

NEW_PASSWORD = "a brand new passphrase"


def link_path(email: str, page: str, since: int) -> str:
    """The path and query of the `page` link e-mailed to `email` since `since`."""
    return f"/{page}?token={link_tokens(email, page, since)[0]}"


def accessible(page: Page, name: str) -> None:
    """Shot, no inline script and no serious axe finding, at the desktop width and on a
    phone (the width restored afterwards)."""
    desktop = page.viewport_size or DESKTOP
    no_inline_script(page)
    for size in (desktop, PHONE):
        page.set_viewport_size(size)
        shot(page, name)
        assert serious_violations(page) == [], (name, size["width"])
    page.set_viewport_size(desktop)


def test_confirm_the_address_then_reset_a_forgotten_password(page: Page) -> None:
    since = now_ns()
    email = register(page, name="Margaret Hamilton")
    page.goto("/account")
    expect(page.locator("#email-status")).to_contain_text("Not confirmed yet")
    accessible(page, "account-unconfirmed")

    page.goto(link_path(email, "account/verify-email", since))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your e-mail address")
    accessible(page, "verify-email")
    page.get_by_role("button", name="Confirm my e-mail address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Your e-mail address is confirmed")
    accessible(page, "verify-email-done")
    page.get_by_role("link", name="Go to your account").click()
    expect(page.locator("#email-status")).to_contain_text(f"{email} is confirmed")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash.success")).to_contain_text("signed out")
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/account/forgot-password$"))
    accessible(page, "forgot-password")
    since = now_ns()
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("#reset-sent")).to_contain_text(email)
    accessible(page, "forgot-password-sent")

    page.goto(link_path(email, "account/reset-password", since))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD[::-1])
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#e-confirm")).to_have_text("The two passwords are not the same.")
    accessible(page, "reset-password-invalid")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))
    expect(page.locator(".flash.success")).to_contain_text("Sign in with the new password")

    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("not right")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#email-status")).to_contain_text("is confirmed")
