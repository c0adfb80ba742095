"""The audit trail: every admin write, as recorded by the service that made it (products,
inventory, orders, users, notifications), merged here newest first, with filters."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter
from litestar.response import Template

from services.web.admin.common import api, clean, page, page_number
from services.web.platform import ApiError, Degraded, Shopper

SERVICES = ("products", "inventory", "orders", "users", "notifications")
PAGE_SIZE = 25
# Each service answers at most 100 entries, so the merged list goes 100 deep: older ones
# are reached with the filters.
MAX_PAGES = 100 // PAGE_SIZE
ACTIONS = (
    ("product.", "Products: any"), ("product.create", "Product created"),
    ("product.update", "Product changed"), ("product.delete", "Product deleted"),
    ("stock.", "Stock set"), ("order.status", "Order status"), ("user.role", "Role changed"),
    ("dead_letter.redeliver", "Dead letter redelivered"),
)
LABELS = {"product.create": "Product created", "product.update": "Product changed",
          "product.delete": "Product deleted", "stock.set": "Stock set",
          "stock.create": "Stock set", "order.status": "Order status changed",
          "user.role": "Role changed", "dead_letter.redeliver": "Dead letter redelivered"}
LINKS = {"product": "/admin/products/{}", "stock": "/admin/products/{}",
         "order": "/admin/orders/{}", "user": "/admin/customers/{}"}


def _day(raw: str | None) -> str:
    value = clean(raw, 10)
    try:
        return date.fromisoformat(value).isoformat() if value else ""
    except ValueError:
        return ""


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return value[:19].replace("T", " ")  # a timestamp
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


def entry_view(e: dict[str, Any]) -> dict[str, Any]:
    before, after = e.get("before"), e.get("after") or {}
    changes = []
    for key, value in after.items():
        if before is None and value in (None, ""):
            continue  # a new object's empty fields say nothing
        changed = before is not None and key in before  # else context, or a creation
        changes.append({"field": key.replace("_", " "), "changed": changed,
                        "before": _show(before[key]) if changed and before else "",
                        "after": _show(value)})
    link = LINKS.get(e["entity"], "")
    return {**e, "label": LABELS.get(e["action"], e["action"]), "changes": changes,
            "link": link.format(e["entity_id"]) if link else ""}


@get("/audit", name="admin_audit")
async def audit(
    shopper: Shopper, service: str | None = None, action: str | None = None,
    actor: str | None = None, entity: str | None = None,
    from_: Annotated[str | None, Parameter(query="from")] = None, to: str | None = None,
    page_: Annotated[str | None, Parameter(query="page")] = None,
) -> Template:
    filters = {"service": service if service in SERVICES else "",
               "action": action if action in {a for a, _ in ACTIONS} else "",
               "actor": clean(actor, 254), "entity": clean(entity, 200),
               "from": _day(from_), "to": _day(to)}
    page_no = min(page_number(page_), MAX_PAGES)
    params = {"page": "1", "page_size": str(min(100, PAGE_SIZE * page_no))}
    for key, name in (("action", "action"), ("actor", "actor"), ("entity", "entity_id"),
                      ("from", "from")):
        if filters[key]:
            params[name] = filters[key]
    if filters["to"]:  # the API's `to` is exclusive: the whole last day is included
        params["to"] = (date.fromisoformat(filters["to"]) + timedelta(days=1)).isoformat()
    wanted = [filters["service"]] if filters["service"] else list(SERVICES)

    async def one(svc: str) -> tuple[str, dict[str, Any] | None]:
        try:
            return svc, await api(shopper, "GET", f"/api/{svc}/audit", params=params)
        except (ApiError, Degraded):
            return svc, None

    answers = await asyncio.gather(*(one(s) for s in wanted))
    entries = [e for _, body in answers if body for e in body.get("items") or []]
    entries.sort(key=lambda e: (e["at"], e["id"]), reverse=True)
    total = sum(int(body.get("total") or 0) for _, body in answers if body)
    start = (page_no - 1) * PAGE_SIZE
    shown = [entry_view(e) for e in entries[start:start + PAGE_SIZE]]
    return await page(shopper, "audit.html", entries=shown, total=total, page_no=page_no,
                      has_more=total > start + PAGE_SIZE and page_no < MAX_PAGES, filters=filters,
                      services=SERVICES, actions=ACTIONS,
                      unavailable=[s for s, body in answers if body is None])


ROUTES = [audit]
