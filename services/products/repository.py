"""All SQL of the products service: parameterised statements only, ORDER BY from a whitelist.

The f-strings below (noqa: S608) only splice in constants of this module and numbered
placeholders; every value travels as a parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

COLUMNS = ("id, name, description, price, category, image_url, stock_quantity, deleted_at, "
           "created_at, updated_at")
# Columns an admin may change (PUT / PATCH); everything else is the server's.
EDITABLE = ("name", "description", "price", "category", "image_url")

# The only ORDER BY clauses a listing can use; every one ends on the primary key so that
# pages are stable.
ORDER_BY: Mapping[str, str] = {
    "price": "p.price ASC, p.id ASC",
    "-price": "p.price DESC, p.id ASC",
    "name": "lower(p.name) ASC, p.id ASC",
    "newest": "p.created_at DESC, p.id DESC",
}
# Relevance with a search: an exact name match first, then the full-text rank (name counts
# more than category, which counts more than description), then the name.
ORDER_BY_RELEVANCE = ("(lower(btrim(p.name)) = lower(btrim($1))) DESC, "
                      "ts_rank_cd(p.search, tsq) DESC, lower(p.name) ASC, p.id ASC")
# How close a misspelt word must be to a word of a name (pg_trgm word_similarity, 0..1).
FUZZY_THRESHOLD = 0.5
# Offsets beyond this are clamped (a huge page number is an empty page, not an error).
MAX_OFFSET = 1 << 62


class Filters:
    """A listing's WHERE clause, built from typed values with numbered parameters."""

    def __init__(self, *, category: str | None, min_price: Decimal | None,
                 max_price: Decimal | None, in_stock: bool | None) -> None:
        self.category = category
        self.min_price = min_price
        self.max_price = max_price
        self.in_stock = in_stock

    def sql(self, args: list[Any]) -> list[str]:
        where = ["p.deleted_at IS NULL"]
        if self.category is not None:
            args.append(self.category)
            where.append(f"lower(p.category) = lower(${len(args)})")
        if self.min_price is not None:
            args.append(self.min_price)
            where.append(f"p.price >= ${len(args)}")
        if self.max_price is not None:
            args.append(self.max_price)
            where.append(f"p.price <= ${len(args)}")
        if self.in_stock is True:
            where.append("p.stock_quantity > 0")
        elif self.in_stock is False:
            where.append("p.stock_quantity = 0")
        return where


async def list_products(pool: asyncpg.Pool, *, search: str | None,
                        fuzzy_words: Sequence[str] = (), filters: Filters, sort: str,
                        page: int, page_size: int) -> tuple[list[asyncpg.Record], int]:
    """One page of active products and the total matching count.

    With `search` alone, PostgreSQL full-text search (websearch syntax). With `fuzzy_words`,
    typo tolerance instead: every word must be trigram-similar to a word of the name.
    """
    args: list[Any] = []  # the WHERE clause's parameters, shared by the count
    source = "products p"
    where: list[str] = []
    scores: list[str] = []
    if search is not None and fuzzy_words:
        for word in fuzzy_words:
            args.append(word)
            where.append(f"${len(args)} <% p.name")
            scores.append(f"word_similarity(${len(args)}, p.name)")
    elif search is not None:
        args.append(search)
        source = "products p CROSS JOIN websearch_to_tsquery('english', $1) AS tsq"
        where.append("p.search @@ tsq")
    where += filters.sql(args)
    page_args = list(args)
    if sort != "relevance":
        order = ORDER_BY[sort]
    elif search is None:
        order = ORDER_BY["newest"]
    elif scores:
        page_args.append(search)
        order = (f"(lower(btrim(p.name)) = lower(btrim(${len(page_args)}))) DESC, "
                 f"({' + '.join(scores)}) DESC, lower(p.name) ASC, p.id ASC")
    else:
        order = ORDER_BY_RELEVANCE
    page_args += [page_size, min((page - 1) * page_size, MAX_OFFSET)]
    sql = (f"SELECT {_prefixed()}, count(*) OVER () AS total FROM {source} "  # noqa: S608
           f"WHERE {' AND '.join(where)} ORDER BY {order} "
           f"LIMIT ${len(page_args) - 1} OFFSET ${len(page_args)}")
    count_sql = f"SELECT count(*) FROM {source} WHERE {' AND '.join(where)}"  # noqa: S608
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        if fuzzy_words:
            await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', $1, true)",
                               str(FUZZY_THRESHOLD))
        rows: list[asyncpg.Record] = await conn.fetch(sql, *page_args)
        if rows:
            return rows, int(rows[0]["total"])
        if page == 1:
            return [], 0
        total = await conn.fetchval(count_sql, *args)
    return [], int(total)


def _prefixed() -> str:
    return ", ".join(f"p.{c.strip()}" for c in COLUMNS.split(","))


async def get(pool: asyncpg.Pool, product_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {COLUMNS} FROM products WHERE id = $1", product_id)  # noqa: S608
    return row


async def create(conn: asyncpg.Connection, *, product_id: uuid.UUID, name: str,
                 description: str, price: Decimal, category: str, image_url: str | None,
                 available: int | None, version: int | None) -> asyncpg.Record:
    """Insert a product; `available` and `version` (what inventory answered for its initial
    stock, if any) start the stock read model as `apply_stock` would."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO products (id, name, description, price, category, image_url,"  # noqa: S608
        " stock_quantity, stock_version, stock_changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 0), $8,"
        " CASE WHEN $7::integer IS NOT NULL THEN date_trunc('second', now()) END)"
        f" RETURNING {COLUMNS}",
        product_id, name, description, price, category, image_url,
        None if available is None else max(available, 0), version)
    return row


async def update(conn: asyncpg.Connection, product_id: uuid.UUID,
                 changes: Mapping[str, Any]) -> asyncpg.Record | None:
    """Change the given editable columns of an active product; None if there is none."""
    cols = [c for c in EDITABLE if c in changes]
    if set(changes) - set(cols):
        raise ValueError(f"not editable: {sorted(set(changes) - set(cols))}")
    sets = [f"{c} = ${i}" for i, c in enumerate(cols, start=2)]
    sets.append("updated_at = now()")
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE products SET {', '.join(sets)} WHERE id = $1 AND deleted_at IS NULL "  # noqa: S608
        f"RETURNING {COLUMNS}",
        product_id, *(changes[c] for c in cols))
    return row


async def soft_delete(conn: asyncpg.Connection,
                      product_id: uuid.UUID) -> asyncpg.Record | None:
    """Mark an active product deleted; None if it is unknown or already deleted."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE products SET deleted_at = now(), updated_at = now() "  # noqa: S608
        f"WHERE id = $1 AND deleted_at IS NULL RETURNING {COLUMNS}",
        product_id)
    return row


async def categories(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT min(category) AS name, count(*) AS count FROM products "
        "WHERE deleted_at IS NULL GROUP BY lower(category) ORDER BY lower(category)")
    return rows


async def batch(pool: asyncpg.Pool, ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT id, name, price, category, deleted_at IS NULL AS active, stock_quantity "
        "FROM products WHERE id = ANY($1::uuid[])", list(ids))
    return rows


async def apply_stock(pool: asyncpg.Pool, *, product_id: uuid.UUID, available: int,
                      version: int | None, changed_at: datetime | None,
                      event_id: str | None) -> bool:
    """Set the stock read model unless this event was applied already or is older than the
    last one applied (by `version` when inventory sends one, else by time, to the second).

    Returns whether the row changed. One statement (one round trip, no BEGIN/COMMIT): the
    event id, when there is one, is recorded in the same atomic step as the update it allows.
    """
    row = await pool.fetchrow(
        "WITH fresh AS (INSERT INTO processed_events (event_id) SELECT $5::text"
        "               WHERE $5::text IS NOT NULL ON CONFLICT DO NOTHING RETURNING true) "
        "UPDATE products SET stock_quantity = $2,"
        " stock_version = COALESCE($3, stock_version),"
        " stock_changed_at = COALESCE($4, date_trunc('second', now())) "
        "WHERE id = $1 AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM fresh)) AND CASE"
        " WHEN $3::bigint IS NOT NULL THEN stock_version IS NULL OR stock_version < $3"
        " ELSE stock_changed_at IS NULL"
        "  OR stock_changed_at <= COALESCE($4, date_trunc('second', now())) END "
        "RETURNING id",
        product_id, available, version, changed_at, event_id)
    return row is not None


async def prune_processed_events(pool: asyncpg.Pool, days: int = 7) -> int:
    done: str = await pool.execute(
        "DELETE FROM processed_events WHERE processed_at < now() - make_interval(days => $1)",
        days)
    return int(done.split()[-1])
