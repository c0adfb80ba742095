"""Checkout, the order page whose status follows the workflow, the order history and the
cancel button. Another shopper's order is the 404 page, as the API answers."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Response, Template

from services.web.pages import STATUS_LABELS, reason_text, render
from services.web.platform import ApiError, LoginRequired, PageNotFound, Shopper
from services.web.routes.basket import basket_view

PAYMENT_CHOICES = [
    ("tok_visa", "Test card: approved",
     "The sandbox approves this card: the order is confirmed."),
    ("tok_decline", "Test card: declined",
     "The sandbox declines this card: the order is cancelled and nothing is charged."),
    ("tok_insufficient_funds", "Test card: insufficient funds",
     "The sandbox declines this card for lack of funds: nothing is charged."),
]
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
CANCELLABLE = ("pending", "processing")
FINAL = ("delivered", "cancelled")


def _order_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise PageNotFound(raw) from None


def _validate_address(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, label in (("name", "Full name"), ("line1", "Address"), ("city", "City"),
                        ("postal_code", "Postal code"), ("country", "Country")):
        if not form.get(name):
            errors[name] = f"{label} is required."
    country = form.get("country", "")
    if country and not (len(country) == 2 and country.isalpha()):
        errors["country"] = "Use the two-letter country code, for example US or DE."
    limits = {"name": 200, "line1": 200, "line2": 200, "city": 100, "region": 100,
              "postal_code": 20}
    for name, limit in limits.items():
        if len(form.get(name, "")) > limit:
            errors[name] = f"At most {limit} characters."
    if form.get("payment_method") not in {c[0] for c in PAYMENT_CHOICES}:
        errors["payment_method"] = "Choose a payment method."
    return errors


async def _checkout_page(shopper: Shopper, *, form: dict[str, str] | None = None,
                         errors: dict[str, str] | None = None, status: int = 200) -> Template:
    if await shopper.user() is None:
        raise LoginRequired("/checkout")
    basket = await basket_view(shopper)
    form = form or {"payment_method": "tok_visa", "country": "US",
                    "name": (await shopper.user()).name}  # type: ignore[union-attr]
    return await render(shopper, "checkout.html", status=status, basket=basket, form=form,
                        errors=errors or {}, payments=PAYMENT_CHOICES,
                        idempotency_key=form.get("idempotency_key") or str(uuid.uuid4()))


@get("/checkout", name="checkout")
async def checkout(shopper: Shopper) -> Template:
    return await _checkout_page(shopper)


@post("/checkout", name="place_order", response_model=None)
async def place_order(request: Request[Any, Any, Any], shopper: Shopper) -> Template | Redirect:
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in
            (*ADDRESS_FIELDS, "payment_method", "idempotency_key")}
    form["country"] = form["country"].upper()
    errors = _validate_address(form)
    try:
        key = str(uuid.UUID(form["idempotency_key"]))
    except ValueError:
        key, form["idempotency_key"] = str(uuid.uuid4()), ""
    if errors:
        return await _checkout_page(shopper, form=form, errors=errors, status=422)
    address = {k: form[k] for k in ADDRESS_FIELDS if form[k]}
    try:
        order = await shopper.api(
            "POST", "/api/basket/checkout", headers={"idempotency-key": key},
            json={"shipping_address": address, "payment_method": form["payment_method"]})
    except ApiError as exc:
        if exc.status == 409 and "empty" in exc.detail.lower():
            await shopper.flash("error", "Your basket is empty.")
            return Redirect("/basket", status_code=303)
        fields = exc.field_errors
        return await _checkout_page(shopper, form=form, status=exc.status,
                                    errors=fields or {"form": exc.detail})
    order_id = order.get("id") or (order.get("order") or {}).get("id")
    return Redirect(f"/orders/{order_id}", status_code=303)


def _view(order: dict[str, Any]) -> dict[str, Any]:
    """What the order page and its status feed show."""
    statuses = [h.get("status") for h in order.get("history") or []]
    refunded = order["status"] == "cancelled" and "processing" in statuses
    return {
        "id": order["id"], "status": order["status"],
        "label": STATUS_LABELS.get(order["status"], order["status"]),
        "reason": reason_text(order.get("cancel_reason")),
        "refunded": refunded, "final": order["status"] in FINAL,
        "cancellable": order["status"] in CANCELLABLE,
        "history": [{"status": h.get("status"),
                     "label": STATUS_LABELS.get(h.get("status", ""), h.get("status")),
                     "at": h.get("at"), "reason": reason_text(h.get("reason"))}
                    for h in order.get("history") or []],
    }


async def _order(shopper: Shopper, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = await shopper.api("GET", f"/api/orders/{_order_id(order_id)}")
    return order


@get("/orders", name="orders")
async def orders(shopper: Shopper, page: str | None = None) -> Template:
    page_no = int(page) if page and page.isdigit() and 0 < int(page) < 10_000 else 1
    body = await shopper.api("GET", "/api/orders", params={"page": str(page_no),
                                                           "page_size": "20"})
    return await render(shopper, "orders.html", orders=body.get("items") or [],
                        total=int(body.get("total") or 0), page=page_no)


@get("/orders/{order_id:str}", name="order")
async def order_page(shopper: Shopper, order_id: str) -> Template:
    order = await _order(shopper, order_id)
    return await render(shopper, "order.html", order=order, view=_view(order))


@get("/orders/{order_id:str}/status", name="order_status")
async def order_status(shopper: Shopper, order_id: str) -> Response[dict[str, Any]]:
    """The order's status for the page's script (JSON), polled until it is final."""
    view = _view(await _order(shopper, order_id))
    return Response(view, headers={"Cache-Control": "no-store"})


@post("/orders/{order_id:str}/cancel", name="cancel_order")
async def cancel(shopper: Shopper, order_id: str) -> Redirect:
    oid = _order_id(order_id)
    try:
        await shopper.api("PATCH", f"/api/orders/{oid}/status", json={"status": "cancelled"})
        await shopper.flash("success", "Your order is cancelled. Any payment is refunded.")
    except ApiError as exc:
        if exc.status == 404:
            raise
        await shopper.flash("error", exc.detail or "This order can no longer be cancelled.")
    return Redirect(f"/orders/{oid}", status_code=303)


ROUTES = [checkout, place_order, orders, order_page, order_status, cancel]
