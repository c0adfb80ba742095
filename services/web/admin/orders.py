"""Orders: filter by status and date, the order with its lines, totals, payment and refund
state and status timeline; ship (with an optional carrier and tracking number), deliver,
cancel. The orders service decides what is allowed; its answer is shown as it is."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.web.admin.common import PAGE_SIZE, api, clean, page, page_number, pages
from services.web.pages import STATUS_LABELS, reason_text
from services.web.platform import ApiError, PageNotFound, Shopper

STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled")
ACTIONS = {"ship": "shipped", "deliver": "delivered", "cancel": "cancelled"}
DONE = {"shipped": "Order marked shipped.", "delivered": "Order marked delivered.",
        "cancelled": "Order cancelled: the payment is refunded and the stock released."}


def _order_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise PageNotFound(raw) from None


def _day(raw: str | None) -> str:
    value = clean(raw, 10)
    try:
        return date.fromisoformat(value).isoformat() if value else ""
    except ValueError:
        return ""


@get("/orders", name="admin_orders")
async def orders(
    shopper: Shopper, status: str | None = None,
    from_: Annotated[str | None, Parameter(query="from")] = None,
    to: str | None = None, customer: str | None = None,
    page_: Annotated[str | None, Parameter(query="page")] = None,
) -> Template:
    filters = {"status": status if status in STATUSES else "", "from": _day(from_),
               "to": _day(to), "customer": ""}
    try:
        filters["customer"] = str(uuid.UUID(clean(customer, 40))) if customer else ""
    except ValueError:
        filters["customer"] = ""
    page_no = page_number(page_)
    params = {"page": str(page_no), "page_size": str(PAGE_SIZE)}
    params.update({("user_id" if k == "customer" else k): v for k, v in filters.items() if v})
    error = None
    try:
        body = await api(shopper, "GET", "/api/orders", params=params)
    except ApiError as exc:
        body, error = {"items": [], "total": 0}, exc.detail or exc.title
    total = int(body.get("total") or 0)
    return await page(shopper, "orders.html", items=body.get("items") or [], total=total,
                      page_no=page_no, pages=pages(total), filters=filters,
                      statuses=STATUSES, error=error)


def timeline(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"status": h.get("status"), "label": STATUS_LABELS.get(h.get("status", ""), ""),
             "at": h.get("at"), "reason": reason_text(h.get("reason"))}
            for h in order.get("history") or []]


def payment_state(order: dict[str, Any]) -> tuple[str, str]:
    """(label, css class) of the order's payment as the order knows it."""
    if order.get("refund_id"):
        return "Refunded", "status-cancelled"
    if order.get("charge_id"):
        return "Paid", "status-delivered"
    if order["status"] == "cancelled":
        return "Not charged", "status-pending"
    return "Awaiting payment", "status-pending"


async def _detail(shopper: Shopper, order_id: str, *, form: dict[str, str] | None = None,
                  error: str | None = None, status: int = 200) -> Template:
    try:
        order = await api(shopper, "GET", f"/api/orders/{order_id}")
    except ApiError as exc:
        if exc.status in (400, 404, 422):
            raise PageNotFound(order_id) from exc
        raise
    label, klass = payment_state(order)
    return await page(shopper, "order.html", status=status, order=order,
                      history=timeline(order), payment=label, payment_class=klass,
                      reason=reason_text(order.get("cancel_reason")), form=form or {},
                      error=error)


@get("/orders/{order_id:str}", name="admin_order")
async def order(shopper: Shopper, order_id: str) -> Template:
    return await _detail(shopper, _order_id(order_id))


@post("/orders/{order_id:str}/{action:str}", name="admin_order_action", response_model=None)
async def order_action(request: Request[Any, Any, Any], shopper: Shopper, order_id: str,
                       action: str) -> Template | Redirect:
    oid = _order_id(order_id)
    target = ACTIONS.get(action)
    if target is None:
        raise PageNotFound(action)
    raw = await request.form()
    form = {k: clean(raw.get(k) if isinstance(raw.get(k), str) else "", 100)
            for k in ("carrier", "tracking_number")}
    body: dict[str, Any] = {"status": target}
    if target == "shipped":
        body.update({k: v for k, v in form.items() if v})
    try:
        answer = await api(shopper, "PATCH", f"/api/orders/{oid}/status", json=body)
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound(oid) from exc
        fields = exc.field_errors
        detail = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items()) \
            if fields else exc.detail or exc.title
        return await _detail(shopper, oid, form=form, error=detail, status=exc.status)
    applied = isinstance(answer, dict) and answer.get("status") == target
    await shopper.flash("success" if applied else "info", DONE[target] if applied else
                        "The change was accepted and is being applied; refresh in a moment.")
    return Redirect(f"/admin/orders/{oid}", status_code=303)


ROUTES = [orders, order, order_action]
