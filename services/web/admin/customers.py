"""Customers: list and search accounts, promote and demote (the users service refuses an
admin's change of their own role), and a customer's orders."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.web.admin.common import PAGE_SIZE, api, clean, page, page_number, pages
from services.web.platform import ApiError, PageNotFound, Shopper

ROLES = ("customer", "admin")


def _user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise PageNotFound(raw) from None


@get("/customers", name="admin_customers")
async def customers(shopper: Shopper, search: str | None = None, role: str | None = None,
                    page_: Annotated[str | None, Parameter(query="page")] = None) -> Template:
    query, page_no = clean(search, 254), page_number(page_)
    role = role if role in ROLES else ""
    params = {"page": str(page_no), "page_size": str(PAGE_SIZE)}
    if query:
        params["search"] = query
    if role:
        params["role"] = role
    body = await api(shopper, "GET", "/api/users", params=params)
    total = int(body.get("total") or 0)
    me = await shopper.user()
    return await page(shopper, "customers.html", items=body.get("items") or [], total=total,
                      page_no=page_no, pages=pages(total), search=query, role=role,
                      roles=ROLES, me=me.id if me else "")


async def _find(shopper: Shopper, user_id: str) -> dict[str, Any]:
    """The account by id (the users API's search matches a whole id)."""
    body = await api(shopper, "GET", "/api/users", params={"search": user_id})
    for item in body.get("items") or []:
        if item["id"] == user_id:
            return dict(item)
    raise PageNotFound(user_id)


@get("/customers/{user_id:str}", name="admin_customer")
async def customer(shopper: Shopper, user_id: str) -> Template:
    uid = _user_id(user_id)
    account = await _find(shopper, uid)
    orders = await api(shopper, "GET", "/api/orders",
                       params={"user_id": uid, "page_size": "20"})
    me = await shopper.user()
    return await page(shopper, "customer.html", account=account,
                      orders=orders.get("items") or [], orders_total=orders.get("total") or 0,
                      me=me.id if me else "")


@post("/customers/{user_id:str}/role", name="admin_customer_role")
async def set_role(request: Request[Any, Any, Any], shopper: Shopper, user_id: str) -> Redirect:
    uid = _user_id(user_id)
    raw = (await request.form()).get("role")
    role = raw if isinstance(raw, str) and raw in ROLES else None
    back = (await request.form()).get("back")
    target = back if isinstance(back, str) and back.startswith("/admin/customers") \
        and not back.startswith("//") else f"/admin/customers/{uid}"
    if role is None:
        await shopper.flash("error", "Choose a role.")
        return Redirect(target, status_code=303)
    try:
        user = await api(shopper, "PATCH", f"/api/users/{uid}/role", json={"role": role})
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound(uid) from exc
        await shopper.flash("error", exc.detail or exc.title)
        return Redirect(target, status_code=303)
    verb = "is now an admin" if role == "admin" else "is now a customer"
    await shopper.flash("success", f"{user['email']} {verb}.")
    return Redirect(target, status_code=303)


ROUTES = [customers, customer, set_role]
