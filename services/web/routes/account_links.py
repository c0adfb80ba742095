"""The pages the account e-mails link to: confirm the e-mail address, ask for a
password-reset link, choose a new password; and resending the verification e-mail.

The links carry a single-use token (services/users/links.py). The verification page still
asks for a click on a button (a POST) instead of using the token on GET: mail scanners and
link previews fetch every link of an e-mail, and a GET that used the token would spend it
before the shopper ever clicked, who would then be told the link is used up."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from services.web.pages import render
from services.web.platform import ApiError, Shopper

# What the users API accepts as a link's token (services/users/links_controller.py).
TOKEN_LENGTH = range(20, 101)
SENT = ("If an account uses {email}, we have sent it an e-mail with a link to reset the "
        "password. The link works once, for 30 minutes. Nothing arrived? Check the spam "
        "folder, or ask for a new link below.")


def _token(raw: Any) -> str:
    token = str(raw or "").strip()
    return token if len(token) in TOKEN_LENGTH else ""


# -- verifying the e-mail address ---------------------------------------------------------------
@get("/account/verify-email", name="verify_email_page")
async def verify_email_page(shopper: Shopper, token: str | None = None) -> Template:
    token = _token(token)
    return await render(shopper, "verify_email.html", status=200 if token else 400,
                        token=token, state="confirm" if token else "invalid")


@post("/account/verify-email", name="verify_email")
async def verify_email(request: Request[Any, Any, Any], shopper: Shopper) -> Template:
    token = _token((await request.form()).get("token"))
    if not token:
        return await render(shopper, "verify_email.html", status=400, token="",
                            state="invalid")
    try:
        user = await shopper.platform.call("POST", "/api/users/verify-email",
                                           json={"token": token})
    except ApiError as exc:
        # 422: unknown, used or expired; 400: not a token at all
        return await render(shopper, "verify_email.html", status=exc.status, token="",
                            state="invalid")
    return await render(shopper, "verify_email.html", token="", state="verified",
                        email=str(user.get("email") or ""))


@post("/account/verify-email/resend", name="resend_verification")
async def resend_verification(shopper: Shopper) -> Redirect:
    try:
        await shopper.api("POST", "/api/users/verify-email/resend")
    except ApiError as exc:
        if exc.status != 409:
            raise
        await shopper.flash("info", "Your e-mail address is already confirmed.")
    else:
        await shopper.flash("success", "We have sent you a new confirmation e-mail. The link "
                            "in any earlier one no longer works.")
    return Redirect("/account", status_code=303)


# -- a forgotten password -----------------------------------------------------------------------
@get("/account/forgot-password", name="forgot_password_page")
async def forgot_password_page(shopper: Shopper, email: str | None = None) -> Template:
    return await render(shopper, "forgot_password.html", form={"email": (email or "")[:254]},
                        errors={}, sent=None)


@post("/account/forgot-password", name="forgot_password")
async def forgot_password(request: Request[Any, Any, Any], shopper: Shopper) -> Template:
    email = str((await request.form()).get("email") or "").strip()
    errors: dict[str, str] = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = "Enter an e-mail address such as you@example.com."
    else:
        try:
            # The same answer for an address without an account; a 429 (too many requests
            # for this address or from this network) becomes the rate-limit page.
            await shopper.platform.call("POST", "/api/users/password-reset",
                                        json={"email": email})
        except ApiError as exc:
            errors = {"email": exc.field_errors.get("email") or exc.detail
                      or "Enter an e-mail address such as you@example.com."}
    if errors:
        return await render(shopper, "forgot_password.html", status=422,
                            form={"email": email}, errors=errors, sent=None)
    return await render(shopper, "forgot_password.html", form={"email": email}, errors={},
                        sent=SENT.format(email=email))


@get("/account/reset-password", name="reset_password_page")
async def reset_password_page(shopper: Shopper, token: str | None = None) -> Template:
    token = _token(token)
    return await render(shopper, "reset_password.html", status=200 if token else 400,
                        token=token, errors={}, invalid=not token)


@post("/account/reset-password", name="reset_password", response_model=None)
async def reset_password(request: Request[Any, Any, Any],
                         shopper: Shopper) -> Template | Redirect:
    form = await request.form()
    token = _token(form.get("token"))
    password, confirm = str(form.get("password") or ""), str(form.get("confirm") or "")
    if not token:
        return await render(shopper, "reset_password.html", status=400, token="", errors={},
                            invalid=True)
    errors: dict[str, str] = {}
    if not 8 <= len(password) <= 128:
        errors["password"] = "Use 8 to 128 characters."  # noqa: S105 (a message)
    elif password != confirm:
        errors["confirm"] = "The two passwords are not the same."
    if not errors:
        try:
            await shopper.platform.call("POST", "/api/users/password-reset/confirm",
                                        json={"token": token, "password": password})
        except ApiError as exc:
            if exc.status == 422 and "token" in exc.field_errors:
                return await render(shopper, "reset_password.html", status=422, token="",
                                    errors={}, invalid=True)
            errors = exc.field_errors or {"password": exc.detail}
            errors.pop("token", None)
            errors = errors or {"password": "This password cannot be used."}
        else:
            # Every session of the account has ended: this browser's too, if it was signed in.
            if await shopper.user() is not None:
                await shopper.sign_out()
            await shopper.flash("success", "Your password is changed and you are signed out "
                                "everywhere. Sign in with the new password.")
            return Redirect("/login?next=/account", status_code=303)
    return await render(shopper, "reset_password.html", status=422, token=token,
                        errors=errors, invalid=False)


ROUTES = [verify_email_page, verify_email, resend_verification, forgot_password_page,
          forgot_password, reset_password_page, reset_password]
