"""Dead letters: the events that reached the dead-letter topic, and their redelivery (the
notifications service republishes one through Dapr and keeps the outcome)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from services.web.admin.common import PAGE_SIZE, api, page, page_number, pages
from services.web.platform import ApiError, Degraded, PageNotFound, Shopper


@get("/dead-letters", name="admin_dead_letters")
async def dead_letters(shopper: Shopper,
                       page_: Annotated[str | None, Parameter(query="page")] = None) -> Template:
    page_no = page_number(page_)
    body = await api(shopper, "GET", "/api/notifications/dead-letters",
                     params={"page": str(page_no), "page_size": str(PAGE_SIZE)})
    items = [{**d, "payload": msgspec.json.format(msgspec.json.encode(d.get("data")),
                                                  indent=2).decode()}
             for d in body.get("items") or []]
    total = int(body.get("total") or 0)
    return await page(shopper, "dead_letters.html", items=items, total=total,
                      page_no=page_no, pages=pages(total))


@post("/dead-letters/{event_id:str}/redeliver", name="admin_redeliver")
async def redeliver(shopper: Shopper, event_id: str) -> Redirect:
    if not event_id or len(event_id) > 200:
        raise PageNotFound(event_id)
    try:
        path = f"/api/notifications/dead-letters/{quote(event_id, safe='')}/redeliver"
        done: dict[str, Any] = await api(shopper, "POST", path)
        await shopper.flash("success", f"Event {event_id} was published again to "
                                       f"“{done['topic']}” ({done['outcome']}).")
    except ApiError as exc:
        if exc.status == 404:
            raise PageNotFound(event_id) from exc
        await shopper.flash("error", exc.detail or exc.title)
    except Degraded as exc:  # 502: the publish failed, and that outcome is recorded
        await shopper.flash("error", f"The event could not be published again: {exc}")
    return Redirect("/admin/dead-letters", status_code=303)


ROUTES = [dead_letters, redeliver]
