"""Sign-up, sign-in (the guest basket is merged), sign-out, the profile, the password and
the notification feed."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from litestar import Request, get, post
from litestar.response import Redirect, Template

from services.web.pages import render, safe_next
from services.web.platform import ApiError, LoginRequired, Shopper

log = structlog.get_logger(__name__)


async def _merge_guest_basket(shopper: Shopper, guest_token: str | None) -> None:
    if not guest_token:
        return
    try:
        await shopper.api("POST", "/api/basket/merge", json={"guest_token": guest_token})
    except ApiError as exc:
        log.info("basket_merge_refused", status=exc.status)
        if exc.status not in (404, 410):
            await shopper.flash("error", "Your guest basket could not be added to your "
                                "account's basket.")


@get("/login", name="login")
async def login_page(shopper: Shopper, next: str | None = None) -> Template:
    return await render(shopper, "login.html", next=safe_next(next), form={}, error=None)


@post("/login", name="do_login", response_model=None)
async def login(request: Request[Any, Any, Any], shopper: Shopper) -> Template | Redirect:
    form = await request.form()
    email, password = str(form.get("email") or "").strip(), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/"))
    if not email or not password:
        return await render(shopper, "login.html", status=422, next=target,
                            form={"email": email}, error="Enter your e-mail and password.")
    try:
        answer = await shopper.platform.call("POST", "/api/users/login",
                                             json={"email": email, "password": password})
    except ApiError as exc:
        message = ("The e-mail or password is not right." if exc.status in (400, 401, 422)
                   else exc.detail)
        return await render(shopper, "login.html", status=exc.status, next=target,
                            form={"email": email}, error=message)
    guest = await shopper.sign_in(answer)
    await _merge_guest_basket(shopper, guest)
    await shopper.flash("success", f"Welcome back, {answer['user'].get('name') or email}.")
    return Redirect(target, status_code=303)


@get("/register", name="register")
async def register_page(shopper: Shopper, next: str | None = None) -> Template:
    return await render(shopper, "register.html", next=safe_next(next), form={}, errors={})


@post("/register", name="do_register", response_model=None)
async def register(request: Request[Any, Any, Any], shopper: Shopper) -> Template | Redirect:
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("name", "email")}
    password = str(raw.get("password") or "")
    target = safe_next(str(raw.get("next") or "/"))
    errors: dict[str, str] = {}
    if not form["name"]:
        errors["name"] = "Tell us your name."
    if "@" not in form["email"]:
        errors["email"] = "Enter an e-mail address such as you@example.com."
    if not 8 <= len(password) <= 128:
        errors["password"] = "Use 8 to 128 characters."  # noqa: S105 (a message)
    if not errors:
        try:
            answer = await shopper.platform.call(
                "POST", "/api/users/register",
                json={"email": form["email"], "password": password, "name": form["name"]})
        except ApiError as exc:
            errors = exc.field_errors
            if exc.status == 409:
                errors = {"email": "An account with this e-mail already exists. Sign in "
                          "instead."}
            errors = errors or {"form": exc.detail}
        else:
            guest = await shopper.sign_in(answer)
            await _merge_guest_basket(shopper, guest)
            await shopper.flash("success", f"Welcome, {form['name']}! Your account is ready.")
            return Redirect(target, status_code=303)
    return await render(shopper, "register.html", status=422, next=target, form=form,
                        errors=errors)


@post("/logout", name="logout")
async def logout(shopper: Shopper) -> Redirect:
    await shopper.sign_out()
    await shopper.flash("success", "You are signed out.")
    return Redirect("/", status_code=303)


async def _account_page(shopper: Shopper, *, status: int = 200,
                        errors: dict[str, str] | None = None) -> Template:
    if await shopper.user() is None:
        raise LoginRequired("/account")
    profile = await shopper.api("GET", "/api/users/profile")
    return await render(shopper, "account.html", status=status, profile=profile,
                        errors=errors or {})


@get("/account", name="account")
async def account(shopper: Shopper) -> Template:
    return await _account_page(shopper)


@post("/account", name="update_profile", response_model=None)
async def update_profile(request: Request[Any, Any, Any],
                         shopper: Shopper) -> Template | Redirect:
    form = await request.form()
    name = str(form.get("name") or "").strip()
    if not name or len(name) > 200:
        return await _account_page(shopper, status=422,
                                   errors={"name": "Use 1 to 200 characters."})
    try:
        profile = await shopper.api("PATCH", "/api/users/profile", json={"name": name})
    except ApiError as exc:
        return await _account_page(shopper, status=exc.status,
                                   errors=exc.field_errors or {"name": exc.detail})
    data = await shopper.data()
    if data.user is not None:
        from services.web.sessions import User

        data.user = User(id=data.user.id, email=data.user.email,
                         name=str(profile.get("name") or name), role=data.user.role)
    await shopper.flash("success", "Your name is saved.")
    return Redirect("/account", status_code=303)


@post("/account/password", name="change_password", response_model=None)
async def change_password(request: Request[Any, Any, Any],
                          shopper: Shopper) -> Template | Redirect:
    form = await request.form()
    current, new = str(form.get("current_password") or ""), str(form.get("password") or "")
    if not 8 <= len(new) <= 128:
        return await _account_page(shopper, status=422,
                                   errors={"password": "Use 8 to 128 characters."})
    try:
        await shopper.api("PATCH", "/api/users/profile",
                          json={"password": new, "current_password": current})
    except ApiError as exc:
        message = ("Your current password is not right." if exc.status in (401, 403)
                   else exc.detail)
        return await _account_page(shopper, status=exc.status if exc.status != 401 else 422,
                                   errors={"current_password": message})
    # Changing the password ends every session, this one too: sign in again.
    await shopper.sign_out()
    await shopper.flash("success", "Your password is changed. Please sign in again.")
    return Redirect("/login?next=/account", status_code=303)


@get("/notifications", name="notifications")
async def notifications(shopper: Shopper) -> Template:
    body = await shopper.api("GET", "/api/notifications", params={"page_size": "50"})
    return await render(shopper, "notifications.html", items=body.get("items") or [])


@post("/notifications/{notification_id:str}/read", name="notification_read")
async def mark_read(shopper: Shopper, notification_id: str) -> Redirect:
    try:
        nid = str(uuid.UUID(notification_id))
    except ValueError:
        return Redirect("/notifications", status_code=303)
    try:
        await shopper.api("PATCH", f"/api/notifications/{nid}", json={"read": True})
    except ApiError as exc:
        if exc.status != 404:
            raise
    return Redirect("/notifications", status_code=303)


ROUTES = [login_page, login, register_page, register, logout, account, update_profile,
          change_password, notifications, mark_read]
