"""Admin: redeliver a dead letter by publishing its event again through Dapr, to the topic it
died on, and keep the outcome.

The republished event is a new CloudEvent (Dapr gives it a new id), so every subscriber
handles it as it would the original: the notifications' own dedupe keys still keep it from
sending an e-mail twice. Each attempt, published or not, updates the dead letter's row
(redeliveries, when, outcome); that update is what the audit trail records, with the admin
who asked, in the same transaction (services/common/audit.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Response, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter

from services.common import audit, events
from services.common.auth import Identity, provide_admin
from services.common.dapr import Sidecar
from services.common.errors import Conflict, DomainError, NotFound
from services.common.names import NOTIFICATIONS

log = structlog.get_logger(__name__)

PUBLISHED = "published"


class Redelivery(msgspec.Struct, kw_only=True):
    """The answer of a redelivery: the dead letter and how its last redelivery went."""

    event_id: str
    topic: str
    type: str
    outcome: str
    redeliveries: int
    last_redelivered_at: datetime


class RedeliveryFailed(DomainError):
    status, title = 502, "Redelivery failed"


async def redeliver(pool: asyncpg.Pool, sidecar: Sidecar, event_id: str) -> Redelivery:
    row = await pool.fetchrow(
        "SELECT topic, type, data::text AS data FROM dead_letters WHERE event_id = $1", event_id)
    if row is None:
        raise NotFound(f"No dead letter {event_id!r}")
    data: Any = msgspec.json.decode(row["data"]) if row["data"] else None
    if not row["topic"] or not row["type"] or not isinstance(data, dict):
        raise Conflict("This dead letter has no topic, type or event data to publish again")
    try:
        await events.publish(sidecar, row["topic"], row["type"], data)
        outcome = PUBLISHED
    except DomainError as exc:  # the sidecar refused or could not be reached
        outcome = f"failed: {exc.detail}"[:500]
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetchrow(
            "UPDATE dead_letters SET redeliveries = redeliveries + 1,"
            " last_redelivered_at = now(), last_redelivery_outcome = $2"
            " WHERE event_id = $1 RETURNING redeliveries, last_redelivered_at",
            event_id, outcome)
    if done is None:
        raise NotFound(f"No dead letter {event_id!r}")
    log.info("dead_letter_redelivered", event_id=event_id, topic=row["topic"], outcome=outcome)
    result = Redelivery(event_id=event_id, topic=row["topic"], type=row["type"],
                        outcome=outcome, redeliveries=done["redeliveries"],
                        last_redelivered_at=done["last_redelivered_at"])
    if outcome != PUBLISHED:
        raise RedeliveryFailed(f"The event could not be published again ({outcome}); the "
                               "attempt is recorded")
    return result


@post("/api/notifications/dead-letters/{event_id:str}/redeliver", status_code=200,
      dependencies={"admin": Provide(provide_admin)}, tags=["notifications"],
      conflict="The dead letter has no event data to publish again")
async def redeliver_dead_letter(
    state: State, admin: Identity,
    event_id: str = Parameter(max_length=200, description="The dead letter's event id"),
) -> Response[Redelivery]:
    """Admin: publish a dead-lettered event again to its topic (through Dapr); the outcome
    is kept with the dead letter and in the audit trail. 502 when it could not be published."""
    return Response(await redeliver(state.db, state.sidecar, event_id))


ROUTES: list[Any] = [redeliver_dead_letter, audit.audit_route(NOTIFICATIONS)]
