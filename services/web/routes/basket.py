"""The basket: add from a product page, change quantities, remove, see the subtotal and what
changed (a new price, an item no longer available). A guest's basket lives under a guest
token kept in the session; it is merged into the shopper's own at sign-in."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from services.web.pages import render, safe_next
from services.web.platform import ApiError, PageNotFound, Shopper

MAX_QUANTITY = 99


def _product_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise PageNotFound(raw) from None


def _quantity(raw: Any, *, low: int) -> int | None:
    try:
        value = int(str(raw))
    except ValueError:
        return None
    return value if low <= value <= MAX_QUANTITY else None


async def basket_view(shopper: Shopper) -> dict[str, Any]:
    """The basket as the API shows it; an empty one when the shopper has none yet."""
    empty: dict[str, Any] = {"items": [], "item_count": 0, "subtotal": "0.00"}
    try:
        body = await shopper.basket_call("GET", "/api/basket")
    except ApiError as exc:
        if exc.status not in (401, 404):
            raise
        (await shopper.data()).basket_token = None  # an expired guest basket
        shopper.dirty = True
        return empty
    if not body:
        return empty
    body.setdefault("items", body.get("lines") or [])
    return dict(body)


@get("/basket", name="basket")
async def basket(shopper: Shopper) -> Template:
    return await render(shopper, "basket.html", basket=await basket_view(shopper))


@post("/basket/items", name="basket_add")
async def add(request: Request[Any, Any, Any], shopper: Shopper) -> Redirect:
    form = await request.form()
    product_id = _product_id(str(form.get("product_id") or ""))
    quantity = _quantity(form.get("quantity") or "1", low=1)
    back = safe_next(str(form.get("next") or f"/products/{product_id}"))
    if quantity is None:
        await shopper.flash("error", f"Choose a quantity between 1 and {MAX_QUANTITY}.")
        return Redirect(back, status_code=303)
    try:
        await shopper.basket_call("POST", f"/api/basket/items/{product_id}/add",
                                  json={"quantity": quantity}, create=True)
    except ApiError as exc:
        if exc.status == 429:
            raise
        await shopper.flash("error", exc.detail or "That product cannot be added.")
        return Redirect(back, status_code=303)
    name = str(form.get("name") or "The product")[:200]
    await shopper.flash("success", f"{name} is in your basket.")
    return Redirect(back, status_code=303)


@post("/basket/items/{product_id:str}", name="basket_set")
async def set_quantity(request: Request[Any, Any, Any], shopper: Shopper,
                       product_id: str) -> Redirect:
    form = await request.form()
    pid = _product_id(product_id)
    quantity = 0 if form.get("remove") else _quantity(form.get("quantity") or "", low=0)
    if quantity is None:
        await shopper.flash("error", f"Choose a quantity between 0 and {MAX_QUANTITY}.")
        return Redirect("/basket", status_code=303)
    try:
        if quantity == 0:
            await shopper.basket_call("DELETE", f"/api/basket/items/{pid}")
            await shopper.flash("success", "Removed from your basket.")
        else:
            await shopper.basket_call("PUT", f"/api/basket/items/{pid}",
                                      json={"quantity": quantity}, create=True)
            await shopper.flash("success", "Basket updated.")
    except ApiError as exc:
        await shopper.flash("error", exc.detail or "The basket could not be changed.")
    return Redirect("/basket", status_code=303)


ROUTES = [basket, add, set_quantity]
