"""The audit trail of admin writes, kept by each service in its own database.

Recording happens in PostgreSQL, not in the handlers: a trigger (`audit_row()`, created by
services/common/sql/audit_log.sql, triggers in each service's migrations) writes one
`audit_log` row per changed row, in the transaction of the change, with the columns that
changed before and after. No code path can change an audited column without its row, so
calling the API directly (or a future handler that forgets) cannot skip the record.

Who made the change travels in two settings of the database session,
`ecommerce.actor_id` and `ecommerce.actor_email`:
- `ActorMiddleware` puts the admin identity the gateway verified (the x-user-* headers) in
  a context variable for the request, and the pool's `setup` (`bind_actor`, installed by
  services.common.db.create_pool) copies it into every connection the request acquires; a
  connection acquired outside an admin request is reset, so nothing leaks between requests.
- Work done outside a request (the orders workflow) calls `set_actor_local` inside its
  transaction with the identity it carried.

Each trigger says whether a change without an actor is recorded anyway (attributed to the
platform: a catalog write can only be an admin's) or skipped (stock that moves with
reservations, an order the workflow moves on its own).
"""

from __future__ import annotations

import re
import uuid
import weakref
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.params import Parameter
from litestar.types import ASGIApp, Receive, Scope, Send

from services.common import text
from services.common.auth import Identity, identity_from_headers, provide_admin
from services.common.errors import InvalidInput

ACTOR_ID_SETTING = "ecommerce.actor_id"
ACTOR_EMAIL_SETTING = "ecommerce.actor_email"

Actor = tuple[str, str]  # (user id, e-mail)
_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
# What each pooled connection's session currently says (absent: nothing set yet).
_bound: weakref.WeakKeyDictionary[Any, Actor | None] = weakref.WeakKeyDictionary()


def actor_of(identity: Identity | None) -> Actor | None:
    """The actor an identity is recorded as: admins only."""
    if identity is None or not identity.is_admin:
        return None
    return str(identity.user_id), identity.email or ""


def current_actor() -> Actor | None:
    return _actor.get()


class ActorMiddleware:
    """ASGI middleware: the admin making this request becomes the actor of its writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        token = _actor.set(actor_of(identity_from_headers(headers)))
        try:
            await self.app(scope, receive, send)
        finally:
            _actor.reset(token)


async def bind_actor(conn: Any) -> None:
    """asyncpg pool `setup`: make the connection's session name the current actor. A round
    trip only when that changes (an admin request, and the next acquire after one)."""
    raw = getattr(conn, "_con", conn)  # the pooled connection behind asyncpg's proxy
    wanted = _actor.get()
    if _bound.get(raw, None) == wanted and raw in _bound:
        return
    user_id, email = wanted if wanted is not None else ("", "")
    await conn.execute(f"SELECT set_config('{ACTOR_ID_SETTING}', $1, false),"
                       f" set_config('{ACTOR_EMAIL_SETTING}', $2, false)", user_id, email)
    _bound[raw] = wanted


async def set_actor_local(conn: Any, actor: Actor | None) -> None:
    """Name the actor of the writes of the current transaction only (outside a request)."""
    if actor is None:
        return
    await conn.execute(f"SELECT set_config('{ACTOR_ID_SETTING}', $1, true),"
                       f" set_config('{ACTOR_EMAIL_SETTING}', $2, true)", actor[0], actor[1])


# -- the listing -----------------------------------------------------------------------------
class AuditEntry(msgspec.Struct, kw_only=True):
    """One recorded change: who, what, when, and the changed values before and after."""

    id: int
    service: str
    at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    entity: str
    entity_id: str
    entity_label: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(msgspec.Struct, kw_only=True):
    items: list[AuditEntry]
    total: int
    page: int
    page_size: int


# What `from` and `to` accept, as documented: an RFC 3339 date, or a date-time with its offset.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
TIME_SCHEMA = {"anyOf": [{"type": "string", "format": "date"},
                         {"type": "string", "format": "date-time"}]}


def _parse_time(field: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        if _DAY.fullmatch(raw):
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        if not _INSTANT.fullmatch(raw):
            raise ValueError(raw)
        value = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field}: not an RFC 3339 date or date-time",
                           errors=[{"field": field,
                                    "message": "not an RFC 3339 date or date-time"}]
                           ) from None
    return value


_COLUMNS = ("id, at, actor_id, actor_email, action, entity, entity_id, entity_label,"
            " before::text AS before, after::text AS after")


async def list_entries(pool: asyncpg.Pool, service: str, *, actor: str | None,
                       action: str | None, entity_id: str | None, since: datetime | None,
                       until: datetime | None, page: int, page_size: int) -> AuditPage:
    """A page of the service's audit trail, newest first. `actor` matches the actor's id or
    (part of) the e-mail; `action` an action or its prefix (`product.` for all of them)."""
    where = ("($1::text IS NULL OR actor_id::text = $1 OR actor_email ILIKE '%' || $1 || '%')"
             " AND ($2::text IS NULL OR action = $2 OR action LIKE $2 || '%')"
             " AND ($3::text IS NULL OR entity_id = $3)"
             " AND ($4::timestamptz IS NULL OR at >= $4)"
             " AND ($5::timestamptz IS NULL OR at < $5)")
    args = (actor, action, entity_id, since, until)
    async with pool.acquire() as conn:
        total: int = await conn.fetchval(f"SELECT count(*) FROM audit_log WHERE {where}", *args)  # noqa: S608
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {where}"  # noqa: S608
            " ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7",
            *args, page_size, (page - 1) * page_size)
    items = [AuditEntry(
        id=r["id"], service=service, at=r["at"], actor_id=r["actor_id"],
        actor_email=r["actor_email"], action=r["action"], entity=r["entity"],
        entity_id=r["entity_id"], entity_label=r["entity_label"],
        before=_decode(r["before"]), after=_decode(r["after"])) for r in rows]
    return AuditPage(items=items, total=total, page=page, page_size=page_size)


# Numbers keep their scale ("19.90", not 19.9): money is what most of them are.
_json = msgspec.json.Decoder(float_hook=Decimal)


def _decode(raw: str | None) -> dict[str, Any] | None:
    value = _json.decode(raw) if raw else None
    return value if isinstance(value, dict) else None


def audit_route(service: str) -> Any:
    """`GET /api/<service>/audit` (admin): the service's audit trail, filtered and paged."""

    @get(f"/api/{service}/audit", dependencies={"admin": Provide(provide_admin)},
         tags=[service], operation_id=f"{service}_audit")
    async def list_audit(
        state: State, admin: Identity,
        actor: Annotated[str | None, Parameter(
            max_length=254, pattern=text.NO_NUL,
            description="Actor id or part of the e-mail")] = None,
        action: Annotated[str | None, Parameter(
            max_length=60, pattern=r"^[a-z_.]+$",
            description="An action (product.update) or a prefix (product.)")] = None,
        entity_id: Annotated[str | None, Parameter(max_length=200, pattern=text.NO_NUL)] = None,
        from_: Annotated[str | None, Parameter(
            query="from", max_length=40, schema_extra=TIME_SCHEMA,
            description="From (inclusive): a date (UTC) or a date-time with offset")] = None,
        to: Annotated[str | None, Parameter(
            max_length=40, schema_extra=TIME_SCHEMA,
            description="Until (exclusive): a date (UTC) or a date-time with offset")] = None,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> AuditPage:
        """Admin: every recorded admin write of this service, newest first."""
        if "\x00" in (actor or "") + (entity_id or ""):
            raise InvalidInput("Filters must not contain NUL characters")
        return await list_entries(state.db, service, actor=actor or None, action=action or None,
                                  entity_id=entity_id or None,
                                  since=_parse_time("from", from_), until=_parse_time("to", to),
                                  page=page, page_size=page_size)

    return list_audit


# The table and the trigger function every audited service's database gets (db.migrate's
# shared migrations); each service's own migration creates its triggers.
MIGRATION = Path(__file__).parent / "sql" / "audit_log.sql"
