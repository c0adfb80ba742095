"""The catalog's use cases: validation, database, cache, inventory and events together."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

import asyncpg
import msgspec
import structlog

from services.common import money
from services.common.contracts import internal
from services.common.contracts.events import EventType, ProductEvent, StockChanged
from services.common.contracts.internal import (
    ProductBatchItem,
    ProductBatchRead,
    StockRead,
    StockUpdate,
)
from services.common.dapr import Sidecar
from services.common.errors import Conflict, DomainError, InvalidInput, NotFound, UpstreamError
from services.common.names import INVENTORY
from services.products import repository
from services.products.cache import Cached, ProductCache, item_key, list_key
from services.products.outbox import OUTBOX
from services.products.schemas import (
    SORTS,
    CategoryList,
    CategoryRead,
    ListQuery,
    ProductCreate,
    ProductPage,
    ProductPartialUpdate,
    ProductRead,
    ProductUpdate,
)

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 100
MAX_SEARCH = 200
# Typo tolerance (trigram similarity) is tried when full-text search finds nothing for a
# short query written without search operators.
FUZZY_MAX_WORDS = 4
FUZZY_MIN_LENGTH = 3
_OPERATORS = re.compile(r'"|(^|\s)-\S|\bor\b', re.IGNORECASE)

_encode = msgspec.json.Encoder().encode


def fuzzy_words(search: str) -> list[str]:
    """The words to match by similarity when full-text search found nothing: a short query
    without search operators; words under three letters are too short to compare."""
    if _OPERATORS.search(search):
        return []
    words = [w for w in re.findall(r"\w+", search.lower()) if len(w) >= FUZZY_MIN_LENGTH]
    return words if 0 < len(words) <= FUZZY_MAX_WORDS else []


def to_read(row: asyncpg.Record) -> ProductRead:
    return ProductRead(
        id=row["id"], name=row["name"], description=row["description"],
        price=money.fmt(row["price"]), category=row["category"], image_url=row["image_url"],
        stock_quantity=row["stock_quantity"], in_stock=row["stock_quantity"] > 0,
        active=row["deleted_at"] is None, deleted_at=row["deleted_at"],
        created_at=row["created_at"], updated_at=row["updated_at"])


def _field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors=[{"field": field, "message": message}])


def parse_price(field: str, value: Any) -> Decimal:
    try:
        return money.to_money(value)
    except ValueError as exc:
        raise _field_error(field, str(exc)) from exc


class InvalidQuery(DomainError):
    """A listing parameter the catalog cannot use (min_price=1e30, page=0): 400, as for
    any malformed query parameter, with the field errors."""

    status, title = 400, "Bad request"


def build_query(*, search: str | None, category: str | None, min_price: str | None,
                max_price: str | None, in_stock: bool | None, sort: str | None, page: int,
                page_size: int) -> ListQuery:
    """Validate and normalise listing parameters (raises InvalidInput with field errors)."""
    errors: list[dict[str, str]] = []
    lo = hi = None
    for field, raw in (("min_price", min_price), ("max_price", max_price)):
        if raw is None or raw == "":
            continue
        try:
            value = money.to_money(raw)
        except ValueError as exc:
            errors.append({"field": field, "message": str(exc)})
            continue
        if field == "min_price":
            lo = value
        else:
            hi = value
    if lo is not None and hi is not None and lo > hi:
        errors.append({"field": "min_price", "message": "must not be greater than max_price"})
    sort = sort or "relevance"
    if sort not in SORTS:
        errors.append({"field": "sort", "message": f"must be one of {', '.join(SORTS)}"})
    if page < 1:
        errors.append({"field": "page", "message": "must be >= 1"})
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        errors.append({"field": "page_size", "message": f"must be between 1 and {MAX_PAGE_SIZE}"})
    # The lengths as sent, as the OpenAPI document states them (not after trimming).
    if search and len(search) > MAX_SEARCH:
        errors.append({"field": "search", "message": f"must be at most {MAX_SEARCH} characters"})
    if search and "\x00" in search:
        errors.append({"field": "search", "message": "must not contain NUL characters"})
    search = " ".join(search.split()) if search else None
    if category and (len(category) > 60 or "\x00" in category):
        errors.append({"field": "category", "message": "is not a valid category"})
    category = category.strip() if category else None
    if errors:
        raise InvalidQuery("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                           errors=errors)
    return ListQuery(search=search or None, category=category.lower() if category else None,
                     min_price=money.fmt(lo) if lo is not None else None,
                     max_price=money.fmt(hi) if hi is not None else None,
                     in_stock=in_stock, sort=sort, page=page, page_size=page_size)


def _clean_text(field: str, value: str) -> str:
    if "\x00" in value:
        raise _field_error(field, "must not contain NUL characters")
    return value.strip()


def _edits(data: ProductUpdate | ProductPartialUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field in repository.EDITABLE:
        value = getattr(data, field)
        if value is msgspec.UNSET:
            continue
        if field == "price":
            changes[field] = parse_price("price", value)
        elif isinstance(value, str):
            changes[field] = _clean_text(field, value)
            if field in ("name", "category") and not changes[field]:
                raise _field_error(field, "must not be blank")
        else:
            changes[field] = value
    return changes


async def record_event(conn: asyncpg.Connection, event_type: EventType,
                       product: ProductRead) -> None:
    """Write the event announcing `product`'s change (topic `products`) to the outbox, in the
    caller's transaction."""
    event = ProductEvent(product_id=product.id, name=product.name, price=product.price,
                         category=product.category, active=product.active,
                         occurred_at=datetime.now(UTC))
    await OUTBOX.add(conn, event_type, event, key=product.id)


@dataclass(eq=False)
class ProductsService:
    """The products service's operations; one instance per app, built in the lifespan."""

    pool: asyncpg.Pool
    sidecar: Sidecar
    cache: ProductCache

    # -- reads (through the cache) --------------------------------------------------------
    async def listing(self, query: ListQuery) -> Cached:
        async def compute() -> bytes:
            return _encode(await self._list_from_db(query))

        return await self.cache.read_through("list", list_key(query), compute)

    async def _list_from_db(self, q: ListQuery) -> ProductPage:
        filters = repository.Filters(
            category=q.category,
            min_price=Decimal(q.min_price) if q.min_price is not None else None,
            max_price=Decimal(q.max_price) if q.max_price is not None else None,
            in_stock=q.in_stock)
        args: dict[str, Any] = {"filters": filters, "sort": q.sort, "page": q.page,
                                "page_size": q.page_size}
        rows, total = await repository.list_products(self.pool, search=q.search, **args)
        words = fuzzy_words(q.search) if q.search and total == 0 else []
        if words:
            rows, total = await repository.list_products(self.pool, search=q.search,
                                                         fuzzy_words=words, **args)
        return ProductPage(items=[to_read(r) for r in rows], total=total, page=q.page,
                           page_size=q.page_size)

    async def get(self, product_id: uuid.UUID) -> Cached:
        async def compute() -> bytes | None:
            row = await repository.get(self.pool, product_id)
            return _encode(to_read(row)) if row is not None else None

        found = await self.cache.read_through("item", item_key(product_id), compute)
        if found.body is None:
            raise NotFound(f"No product with id {product_id}")
        return found

    async def categories(self) -> Cached:
        async def compute() -> bytes:
            rows = await repository.categories(self.pool)
            return _encode(CategoryList(
                items=[CategoryRead(name=r["name"], count=r["count"]) for r in rows]))

        return await self.cache.read_through("categories", "catalog:categories", compute)

    async def batch(self, ids: list[uuid.UUID]) -> ProductBatchRead:
        """Current prices for the orders service, straight from the database."""
        rows = await repository.batch(self.pool, ids)
        return ProductBatchRead(items=[ProductBatchItem(
            id=r["id"], name=r["name"], price=money.fmt(r["price"]), category=r["category"],
            active=r["active"], stock_quantity=r["stock_quantity"]) for r in rows])

    # -- writes (admin) -------------------------------------------------------------------
    # A write and its event (product.created / updated / deleted) commit together in one
    # transaction, through the outbox; the request publishes the event after the commit and
    # the outbox drainer does if that fails (services/products/outbox.py).
    async def create(self, data: ProductCreate) -> ProductRead:
        """With `stock`, inventory sets it first under the new product's id; the product and its
        event are written only once inventory has accepted, so a refusal leaves no product
        (at worst a stock row for an id no product ever gets, which nothing can order)."""
        fields = _edits(data)  # stock is not an editable column: inventory owns it
        product_id = uuid.uuid4()
        stock = (await self._set_initial_stock(product_id, data.stock)
                 if data.stock is not None else None)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repository.create(
                conn, product_id=product_id, **fields,
                available=stock.available if stock is not None else None, version=None)
            product = to_read(row)
            await record_event(conn, EventType.PRODUCT_CREATED, product)
        await self._after_write(product_id, "created")
        return product

    async def _set_initial_stock(self, product_id: uuid.UUID, on_hand: int) -> StockRead:
        """Inventory owns the number: ask it to set on_hand; returns what it answers, which
        the new product's stock read model starts from."""
        r = await self.sidecar.invoke(INVENTORY, "PUT", internal.stock_path(product_id),
                                      json=StockUpdate(on_hand=on_hand))
        if r.status_code >= 300:
            log.error("inventory_refused_stock", product_id=str(product_id),
                      status=r.status_code, body=r.text[:300])
            raise UpstreamError(f"The inventory service could not set the stock "
                                f"(it answered {r.status_code}); the product was not created")
        try:
            return msgspec.json.decode(r.content, type=StockRead)
        except msgspec.ValidationError as exc:
            raise UpstreamError(f"Unexpected answer from inventory: {exc}") from exc

    async def replace(self, product_id: uuid.UUID, data: ProductUpdate) -> ProductRead:
        return await self._update(product_id, _edits(data))

    async def patch(self, product_id: uuid.UUID, data: ProductPartialUpdate) -> ProductRead:
        changes = _edits(data)
        if not changes:
            raise InvalidInput("Nothing to change: send at least one of "
                               + ", ".join(repository.EDITABLE))
        return await self._update(product_id, changes)

    async def _update(self, product_id: uuid.UUID, changes: dict[str, Any]) -> ProductRead:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repository.update(conn, product_id, changes)
            if row is not None:
                product = to_read(row)
                await record_event(conn, EventType.PRODUCT_UPDATED, product)
        if row is None:
            await self._missing_or_deleted(product_id)
        await self._after_write(product_id, "updated")
        return product

    async def delete(self, product_id: uuid.UUID) -> None:
        """Soft delete: the product leaves listings but stays readable by id (order history).
        Deleting a deleted product again is a no-op."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repository.soft_delete(conn, product_id)
            if row is not None:
                await record_event(conn, EventType.PRODUCT_DELETED, to_read(row))
        if row is None:
            existing = await repository.get(self.pool, product_id)
            if existing is None:
                raise NotFound(f"No product with id {product_id}")
            return
        await self._after_write(product_id, "deleted")

    async def _missing_or_deleted(self, product_id: uuid.UUID) -> NoReturn:
        existing = await repository.get(self.pool, product_id)
        if existing is None:
            raise NotFound(f"No product with id {product_id}")
        raise Conflict(f"Product {product_id} is deleted and can no longer be changed")

    async def _after_write(self, product_id: uuid.UUID, reason: str) -> None:
        """After the commit: invalidate the cache, then publish the product's events. A
        publish failure is logged, not raised: the drainer publishes them later."""
        try:
            await self.cache.invalidate(product_id, reason)
        finally:
            await OUTBOX.publish_committed(self.pool, self.sidecar, key=product_id)

    # -- events ---------------------------------------------------------------------------
    async def stock_changed(self, event_id: str, event_time: str | None,
                            stock: StockChanged) -> bool:
        """Apply inventory's stock.changed to the read model (idempotent, never backwards)."""
        changed_at = _parse_time(event_time)
        changed = await repository.apply_stock(
            self.pool, product_id=stock.product_id, available=stock.available,
            version=stock.version, changed_at=changed_at, event_id=event_id)
        if changed:
            self.cache.stock_changed()
        return changed


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
