"""HTTP routes of the products service: the public catalog, admin writes, and the orders
service's batch look-up."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response import Response

from services.common import money
from services.common.app import provide_service
from services.common.auth import Identity, identity_from_headers, provide_admin
from services.common.contracts.internal import ProductBatchRead, ProductBatchRequest
from services.common.errors import NotFound
from services.common.internal import InternalController, require_caller
from services.common.names import BASKET, HEADER_CACHE_VERSION, ORDERS
from services.common.openapi import link
from services.products import images, subscriptions
from services.products.cache import VERSION_KEY, Cached
from services.products.schemas import (
    CategoryList,
    ProductCreate,
    ProductId,
    ProductPage,
    ProductPartialUpdate,
    ProductRead,
    ProductUpdate,
    Sort,
)
from services.products.service import MAX_SEARCH, ProductsService, build_query

JSON = "application/json"
# The listing's text filters as build_query takes them: no NUL (PostgreSQL cannot hold one),
# a price filter is an amount or empty.
NO_NUL = r"^[^\x00]*$"
PRICE_FILTER = f"^$|{money.AMOUNT_PATTERN}"
ADMIN = {"admin": Provide(provide_admin)}
# The 409 of a change to a soft-deleted product.
DELETED = "The product is deleted and can no longer be changed"


def _cached(found: Cached) -> Response[bytes]:
    """A public read. `no-cache`: a browser must not reuse it without asking again; the
    gateway may, while the catalog version it names is current (HEADER_CACHE_VERSION)."""
    headers = {"Cache-Control": "no-cache"}
    if found.version is not None:
        headers[HEADER_CACHE_VERSION] = f"{VERSION_KEY}={found.version}"
    assert found.body is not None
    return Response(found.body, media_type=JSON, headers=headers)


# What a client does next with a product it created (OpenAPI links).
_ID = "$response.body#/id"
_ITEM = "/api/products/{product_id}"
CREATED_LINKS = {
    "GetProduct": link("GET", _ITEM, "Read it", product_id=_ID),
    "ReplaceProduct": link("PUT", _ITEM, "Replace it", product_id=_ID),
    "PatchProduct": link("PATCH", _ITEM, "Change some fields", product_id=_ID),
    "DeleteProduct": link("DELETE", _ITEM, "Delete it", product_id=_ID),
    "GetStock": link("GET", "/api/inventory/{product_id}", "Its stock", product_id=_ID),
    "SetStock": link("PUT", "/api/inventory/{product_id}", "Set its stock", product_id=_ID),
    "PutInBasket": link("PUT", "/api/basket/items/{product_id}", "Put it in a basket",
                        product_id=_ID),
    "AddToBasket": link("POST", "/api/basket/items/{product_id}/add", "Add units of it",
                        product_id=_ID),
    "OrderIt": link("POST", "/api/orders", "Order one", body={
        "items": [{"product_id": _ID, "quantity": 1}],
        "shipping_address": {"name": "Ada Lovelace", "line1": "1 Analytical Way",
                             "city": "London", "postal_code": "N1 1AA", "country": "GB"}}),
}


class _Active(msgspec.Struct):
    active: bool


_ACTIVE = msgspec.json.Decoder(_Active)


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No product with id {raw!r}") from None


class ProductController(Controller):
    """`/api/products` (through the gateway): the catalog; admins change it."""

    path = "/api/products"
    tags = ["products"]

    @get("/", responses={200: ResponseSpec(ProductPage, description="One page")})
    async def list_products(
        self, service: ProductsService,
        search: Annotated[str | None, Parameter(
            max_length=MAX_SEARCH, pattern=NO_NUL,
            description="Full-text search (words, \"a phrase\", or, -exclude)")] = None,
        category: Annotated[str | None, Parameter(
            max_length=60, pattern=NO_NUL, description="Exact category (any case)")] = None,
        min_price: Annotated[str | None, Parameter(
            pattern=PRICE_FILTER, description="Lowest price, e.g. 10.00 (empty: none)")] = None,
        max_price: Annotated[str | None, Parameter(
            pattern=PRICE_FILTER, description="Highest price, not below min_price")] = None,
        in_stock: Annotated[bool | None, Parameter(
            description="Only (un)available products")] = None,
        sort: Annotated[Sort | None, Parameter(
            description="relevance (default), price, -price, name, newest")] = None,
        page: Annotated[int, Parameter(ge=1, description="1-based page")] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100, description="Items per page")] = 20,
    ) -> Response[bytes]:
        """Active products matching the filters: {items, total, page, page_size}."""
        query = build_query(search=search, category=category, min_price=min_price,
                            max_price=max_price, in_stock=in_stock, sort=sort, page=page,
                            page_size=page_size)
        return _cached(await service.listing(query))

    @get("/categories",
         responses={200: ResponseSpec(CategoryList, description="Categories and counts")})
    async def list_categories(self, service: ProductsService) -> Response[bytes]:
        """Categories of active products with their product counts."""
        return _cached(await service.categories())

    @get("/{product_id:str}",
         responses={200: ResponseSpec(ProductRead, description="The product")})
    async def get_product(self, service: ProductsService, product_id: ProductId,
                          request: Request[Any, Any, Any]) -> Response[bytes]:
        """One product. A deleted one is 404 like a missing one, except to admins (who
        see it with `active: false`)."""
        found = await service.get(_uuid(product_id))
        if found.body is not None and not _ACTIVE.decode(found.body).active:
            who = identity_from_headers(request.headers)
            if who is None or not who.is_admin:
                raise NotFound(f"No product with id {product_id}")
        return _cached(found)

    @post("/", dependencies=ADMIN, links=CREATED_LINKS)
    async def create_product(self, service: ProductsService, admin: Identity,
                             data: ProductCreate) -> Response[ProductRead]:
        """Admin: create a product; `stock` (optional) sets its on-hand quantity in
        inventory."""
        product = await service.create(data)
        return Response(product, status_code=201,
                        headers={"Location": f"/api/products/{product.id}"})

    @put("/{product_id:str}", dependencies=ADMIN, conflict=DELETED)
    async def replace_product(self, service: ProductsService, admin: Identity,
                              product_id: ProductId, data: ProductUpdate) -> ProductRead:
        """Admin: replace every editable field."""
        return await service.replace(_uuid(product_id), data)

    @patch("/{product_id:str}", dependencies=ADMIN, conflict=DELETED)
    async def patch_product(self, service: ProductsService, admin: Identity, product_id: ProductId,
                            data: ProductPartialUpdate) -> ProductRead:
        """Admin: change some fields."""
        return await service.patch(_uuid(product_id), data)

    @delete("/{product_id:str}", dependencies=ADMIN, status_code=204)
    async def delete_product(self, service: ProductsService, admin: Identity,
                             product_id: ProductId) -> None:
        """Admin: soft delete (idempotent)."""
        await service.delete(_uuid(product_id))


class ProductInternalController(InternalController):
    """`/internal/products` (Dapr invocation from orders and basket only)."""

    path = "/internal/products"
    guards = [require_caller(ORDERS, BASKET)]

    @post("/batch", status_code=200)
    async def batch(self, service: ProductsService,
                    data: ProductBatchRequest) -> ProductBatchRead:
        """Orders and basket: current name, price, state and stock of many products."""
        return await service.batch(list(dict.fromkeys(data.ids)))


ROUTES: list[Any] = [ProductController, ProductInternalController, *images.ROUTES,
                      *subscriptions.ROUTES]
DEPENDENCIES = {"service": provide_service(ProductsService)}
