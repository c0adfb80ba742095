"""Browsing: the home page, the catalog (search, filters, sort, pages in the URL) and the
product page. All anonymous reads, so the gateway's edge cache serves the API answers."""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

from litestar import get
from litestar.response import Template

from services.web.pages import render
from services.web.platform import ApiError, PageNotFound, Shopper

PAGE_SIZE = 12
SORTS = {"relevance": "Best match", "newest": "Newest", "price": "Price: low to high",
         "-price": "Price: high to low", "name": "Name"}


async def _categories(shopper: Shopper) -> list[dict[str, Any]]:
    body = await shopper.api("GET", "/api/products/categories", auth=False)
    return list((body or {}).get("items") or [])


@get("/", name="home")
async def home(shopper: Shopper) -> Template:
    categories, newest, featured = await asyncio.gather(
        _categories(shopper),
        shopper.api("GET", "/api/products", auth=False,
                    params={"sort": "newest", "page_size": "8"}),
        shopper.api("GET", "/api/products", auth=False,
                    params={"sort": "-price", "in_stock": "true", "page_size": "4"}))
    return await render(shopper, "home.html", categories=categories,
                        newest=newest["items"], featured=featured["items"])


@get("/products", name="catalog")
async def catalog(shopper: Shopper, search: str | None = None, category: str | None = None,
                  min_price: str | None = None, max_price: str | None = None,
                  sort: str | None = None, page: str | None = None) -> Template:
    filters = {"search": (search or "").strip()[:200], "category": category or "",
               "min_price": (min_price or "").strip(), "max_price": (max_price or "").strip(),
               "sort": sort if sort in SORTS else ""}
    page_no = int(page) if page and page.isdigit() and 0 < int(page) < 10_000 else 1
    params = {k: v for k, v in filters.items() if v}
    params.update(page=str(page_no), page_size=str(PAGE_SIZE))
    error = None
    try:
        listing, categories = await asyncio.gather(
            shopper.api("GET", "/api/products", auth=False, params=params),
            _categories(shopper))
    except ApiError as exc:
        if exc.status == 404:
            raise
        # A malformed filter (a price that is not a number): say which, show everything.
        fields = exc.field_errors
        error = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fields.items()) \
            or exc.detail
        listing = {"items": [], "total": 0}
        categories = await _categories(shopper)
    total = int(listing.get("total") or 0)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return await render(shopper, "catalog.html", items=listing["items"], total=total,
                        page=page_no, pages=pages, filters=filters, categories=categories,
                        sorts=SORTS, error=error)


@get("/products/{product_id:str}", name="product")
async def product(shopper: Shopper, product_id: str) -> Template:
    try:
        uuid.UUID(product_id)
    except ValueError:
        raise PageNotFound(product_id) from None
    item = await shopper.api("GET", f"/api/products/{product_id}", auth=False)
    if not item.get("active", True):
        raise PageNotFound(product_id)
    return await render(shopper, "product.html", product=item,
                        max_quantity=max(1, min(int(item.get("stock_quantity") or 0), 10)))


ROUTES = [home, catalog, product]
