"""Inputs and outputs of the products service (msgspec Structs, one per use)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

import msgspec
from litestar.params import Parameter

from services.common import money, text

# A name and a category have something besides spaces (the service strips them).
_NOT_BLANK = {"extra": {"pattern": text.NOT_BLANK}}
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, extra_json_schema=_NOT_BLANK)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=60, extra_json_schema=_NOT_BLANK)]
# No space or control character (spelled out: Python's \S and JSON Schema's differ).
ImageUrl = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^(https?://|/)[^\x00-\x20\x7f]+$")]
# Money arrives as a string ("19.99") or a number; services.common.money parses it and
# documents what it takes.
PriceIn = Annotated[str | int | float, msgspec.Meta(extra_json_schema={
    "extra": {"one_of": money.AMOUNT_SCHEMA["oneOf"]}})]
Stock = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]

# A product in a path: a uuid (anything else is a 404, like a missing product).
ProductId = Annotated[str, Parameter(schema_extra={"format": "uuid"},
                                     description="The product's id (a uuid)")]
Sort = Literal["relevance", "price", "-price", "name", "newest"]
SORTS: tuple[str, ...] = get_args(Sort)


class ProductUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PUT /api/products/{id}: every editable field (stock belongs to inventory)."""

    name: Name
    price: PriceIn
    category: Category
    description: Description = ""
    image_url: ImageUrl | None = None


class ProductCreate(ProductUpdate, forbid_unknown_fields=True, kw_only=True):
    """POST /api/products. `stock` is the initial on-hand quantity, set in inventory."""

    stock: Stock | None = None


class ProductPartialUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH /api/products/{id}: only the fields present change (at least one)."""

    __schema_extra__: ClassVar[dict[str, Any]] = {"min_properties": 1}

    name: Name | msgspec.UnsetType = msgspec.UNSET
    price: PriceIn | msgspec.UnsetType = msgspec.UNSET
    category: Category | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    image_url: ImageUrl | msgspec.UnsetType | None = msgspec.UNSET


class ProductRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str
    price: str
    category: str
    image_url: str | None
    stock_quantity: int
    in_stock: bool
    active: bool
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ProductPage(msgspec.Struct, kw_only=True):
    items: list[ProductRead]
    total: int
    page: int
    page_size: int


class CategoryRead(msgspec.Struct):
    name: str
    count: int


class CategoryList(msgspec.Struct):
    items: list[CategoryRead]


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    """A validated listing request; also the cache key of its page."""

    search: str | None = None
    category: str | None = None
    min_price: str | None = None
    max_price: str | None = None
    in_stock: bool | None = None
    sort: str = "relevance"
    page: int = 1
    page_size: int = 20
