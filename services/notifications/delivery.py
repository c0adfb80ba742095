"""Sending the e-mail of one event exactly once per event id, and once per fact it reports.

Delivery of one event (CloudEvent id = idempotency key; also one e-mail per order step and
one welcome per user, `dedupe_key`, as a publisher may re-publish a step under a new id):
1. render the e-mail, then claim it in one short transaction: insert a `pending` row
   (`ON CONFLICT DO NOTHING`), lock it (`FOR UPDATE`, by event id else by dedupe_key);
   `sent` -> acknowledge without sending (a redelivery or a re-publish); under another
   delivery's live claim -> wait for that one (below); else set `claim_token` and
   `claimed_until` and commit;
2. send through the `email` output binding holding no database connection (a slow SMTP
   server must not pin the pool), cut off after SEND_TIMEOUT_SECONDS;
3. record the outcome in a second short statement: success -> `sent`; failure -> count the
   attempt and release the claim; below the limit answer RETRY (the Dapr Resiliency policy
   `pubsubRetry` redelivers with exponential backoff), at the limit mark `failed` and answer
   DROP, so Dapr moves the message to the dead-letter topic, which this service records too
   (deadletters.py).

Why this keeps "one e-mail per event id and per (kind, order)":
- Two deliveries at once (the same id twice, or one step under two ids): the unique keys
  leave one row; its row lock is held only for the claim transaction, so exactly one of them
  claims it. The other sees a live claim and polls (no connection held between polls) until
  the row is `sent` (-> SUCCESS) or the claim is released after a failure or runs out (-> it
  claims and tries itself). It gives up with RETRY only after a whole claim period.
- A claim lasts CLAIM_SECONDS, twice the longest send, so it never runs out under a send in
  progress unless the process stalls for that long (then a second send is possible: at
  least once, as below). The failure write only counts if the claim is still this
  delivery's; a success is always written, since the e-mail did go out.
- A crash before the claim commits leaves nothing: the redelivery starts afresh. A crash
  after the claim and before the send ends leaves a claim that runs out after
  CLAIM_SECONDS; the redelivery (or a waiting delivery) then takes it over and sends. No
  e-mail is lost, it is only late.
- A crash after the binding accepted the e-mail and before `sent` is written sends it once
  more on redelivery. SMTP has no transaction to join, so that window (one UPDATE long)
  cannot be closed.
- A dead letter marks the row `failed` only if no live claim covers it: the claim's holder
  writes the outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Final

import asyncpg
import structlog

from services.common.dapr import Sidecar
from services.common.errors import DomainError
from services.common.events import DROP, RETRY, SUCCESS
from services.common.names import EMAIL
from services.notifications import repository
from services.notifications.rendering import clean_header
from services.notifications.schemas import Draft

log = structlog.get_logger(__name__)

# One send through the binding is cut off after SEND_TIMEOUT_SECONDS (daprd's own timeout
# for the `email` component is 5 s, components/resiliency.yaml); a claim lasts CLAIM_SECONDS,
# so it always outlives the send it covers.
SEND_TIMEOUT_SECONDS: Final = 15.0
CLAIM_SECONDS: Final = 30.0


async def deliver(pool: asyncpg.Pool, sidecar: Sidecar, event_id: str, draft: Draft, *,
                  max_attempts: int) -> dict[str, str]:
    """Claim, send and record the e-mail of `event_id`; answers SUCCESS, RETRY or DROP."""
    token = uuid.uuid4()
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + CLAIM_SECONDS + 1
    pause = 0.05
    first = True
    while True:
        claim = await repository.claim(pool, event_id, draft, token, CLAIM_SECONDS,
                                       insert=first)
        first = False
        row = claim.row
        if row is None:  # pragma: no cover - inserted by the claim, never deleted
            return RETRY
        bound = log.bind(event_id=event_id, notification_id=str(row["id"]), kind=row["kind"])
        if row["status"] == "sent":
            bound.info("notification_already_sent")
            return SUCCESS
        if claim.mine:
            break
        # Another delivery is sending it: wait (holding no connection) for its outcome.
        if loop.time() >= give_up_at:
            bound.warning("notification_claimed_elsewhere")
            return RETRY
        await asyncio.sleep(min(pause, claim.busy_s + 0.01))
        pause = min(pause * 2, 0.5)
    try:
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            await sidecar.invoke_binding(
                EMAIL, "create", data=row["body_html"],
                metadata={"emailTo": row["recipient"], "subject": row["subject"]})
    except (DomainError, TimeoutError) as exc:
        error = clean_header(str(exc) or type(exc).__name__, 500)
        outcome = await repository.record_failure(pool, row["id"], token, error, max_attempts)
        if outcome is None:
            bound.warning("notification_claim_lost", error=error)
            return RETRY
        attempts, status = outcome
        if status == "failed":
            bound.error("notification_failed", attempts=attempts, error=error)
            return DROP
        bound.warning("notification_send_retry", attempts=attempts, error=error)
        return RETRY
    await repository.mark_sent(pool, row["id"])
    bound.info("notification_sent", attempts=row["attempts"] + 1)
    return SUCCESS
