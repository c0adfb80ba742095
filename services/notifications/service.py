"""Turning events into e-mails, sending each one once, and the notification feed.

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
   DROP, so Dapr moves the message to the dead-letter topic, which this service records too.

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
  cannot be closed; the previous design, which committed after the send, had the same one.
- A dead letter marks the row `failed` only if no live claim covers it: the claim's holder
  writes the outcome.

The bindings.smtp component (components-contrib 1.18) sends one `text/html` part only (it
calls gomail's SetBody("text/html", data) and has no way to add an alternative part), so the
e-mail is the HTML rendering; the plain-text rendering is kept with the notification and
shown in the feed.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import asyncpg
import jinja2
import msgspec
import structlog

from services.common.auth import Identity
from services.common.dapr import Sidecar
from services.common.errors import DomainError, InvalidInput, NotFound
from services.common.events import DROP, RETRY, SUCCESS, CloudEvent
from services.common.money import fmt
from services.common.names import EMAIL
from services.common.settings import ConfigError, positive_int_overrides
from services.notifications import repository
from services.notifications.schemas import (
    STATUSES,
    DeadLetterPage,
    DeadLetterRead,
    Kind,
    NotificationPage,
    NotificationRead,
    OrderEvent,
    UserRegistered,
)

log = structlog.get_logger(__name__)

TEMPLATES: Final = Path(__file__).parent / "templates"
SHOP_NAME: Final = "ecommerce-dapr shop"
MAX_ATTEMPTS_ENV: Final = "NOTIFICATIONS_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS: Final = 5
# One send through the binding is cut off after SEND_TIMEOUT_SECONDS (daprd's own timeout
# for the `email` component is 5 s, components/resiliency.yaml); a claim lasts CLAIM_SECONDS,
# so it always outlives the send it covers.
SEND_TIMEOUT_SECONDS: Final = 15.0
CLAIM_SECONDS: Final = 30.0
# The notifications.event_id column holds 1 to 200 characters (0001_notifications.sql).
MAX_EVENT_ID: Final = 200

ORDER_KINDS: Final[dict[str, Kind]] = {
    "order.confirmed": "order_confirmed",
    "order.cancelled": "order_cancelled",
    "order.shipped": "order_shipped",
    "order.delivered": "order_delivered",
}
USER_REGISTERED: Final = "user.registered"
# order.created is followed within seconds by order.confirmed or order.cancelled; an e-mail
# for it would only be noise, so it is acknowledged and not recorded.
IGNORED: Final = frozenset({"order.created"})

_HEADLINES: Final[dict[Kind, tuple[str, str]]] = {
    "order_confirmed": ("Your order is confirmed",
                        "Thank you for your order. Your payment was accepted and we are "
                        "preparing your items."),
    "order_cancelled": ("Your order was cancelled",
                        "Your order has been cancelled. Any payment taken for it is refunded."),
    "order_shipped": ("Your order is on its way", "Good news: your order has been shipped."),
    "order_delivered": ("Your order was delivered",
                        "Your order has been delivered. We hope you enjoy it."),
}
_SUBJECTS: Final[dict[Kind, str]] = {
    "order_confirmed": "Order {short} confirmed",
    "order_cancelled": "Order {short} cancelled",
    "order_shipped": "Order {short} has shipped",
    "order_delivered": "Order {short} delivered",
}
_DEFAULT_STATUS: Final[dict[Kind, str]] = {
    "order_confirmed": "processing", "order_cancelled": "cancelled",
    "order_shipped": "shipped", "order_delivered": "delivered",
}
REASONS: Final[dict[str, str]] = {
    "out_of_stock": "Some of the items are out of stock.",
    "payment_declined": "The payment was declined.",
    "cancelled_by_customer": "You cancelled the order.",
}
# One address only: the binding splits emailTo on ";" and a header must not contain a newline.
_EMAIL_RE: Final = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the notifications service, read once at start-up."""

    # Sends per notification before it is marked failed and dead-lettered. Keep it at most
    # 1 + pubsubRetry.maxRetries (components/resiliency.yaml); beyond that Dapr dead-letters
    # the message first, and the dead-letter handler marks the notification failed.
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """`NOTIFICATIONS_MAX_ATTEMPTS` (1 to 100); a bad value stops start-up."""
    config = positive_int_overrides(Config, "NOTIFICATIONS", dict(env) if env is not None else None)
    if config.max_attempts > 100:
        raise ConfigError(f"{MAX_ATTEMPTS_ENV} must be at most 100, got {config.max_attempts}")
    return config


class BadEvent(Exception):
    """An event that can never become an e-mail (malformed payload, unusable address)."""


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered e-mail, ready to be stored and sent."""

    kind: Kind
    user_id: uuid.UUID
    order_id: uuid.UUID | None
    recipient: str
    subject: str
    text: str
    html: str

    @property
    def dedupe_key(self) -> str:
        """The fact this e-mail reports: one e-mail per order step, one welcome per user."""
        return f"{self.kind}:{self.order_id or self.user_id}"


# -- rendering ---------------------------------------------------------------------------------
def _money(value: Decimal, currency: str = "") -> str:
    return f"{fmt(Decimal(value))} {currency}".strip()


class Renderer:
    """Jinja2 templates: `<name>.txt` (plain) and `<name>.html` (autoescaped)."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                                default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        self.env.filters["money"] = _money

    def render(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
        ctx = {"shop_name": SHOP_NAME, **context}
        text = self.env.get_template(f"{name}.txt").render(ctx)
        html = self.env.get_template(f"{name}.html").render(ctx)
        return re.sub(r"\n{3,}", "\n\n", text), html


def clean_header(value: str, limit: int = 150) -> str:
    """A one-line header value: control characters and runs of spaces become one space."""
    one_line = " ".join(_CONTROL_RE.sub(" ", value).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def valid_recipient(address: str | None) -> str:
    if not address or len(address) > 254 or not _EMAIL_RE.match(address):
        raise BadEvent(f"no usable recipient address: {address!r}")
    return address


def short_id(order_id: uuid.UUID) -> str:
    return order_id.hex[:8].upper()


def event_type(ce: CloudEvent) -> str:
    """The event name: the CloudEvent type, or the `type` field publishers put in the data."""
    if ce.type in ORDER_KINDS or ce.type in IGNORED or ce.type == USER_REGISTERED:
        return ce.type
    inner = ce.data.get("type")
    return inner if isinstance(inner, str) else ce.type


def draft_for(etype: str, data: Mapping[str, Any], renderer: Renderer) -> Draft | None:
    """The e-mail an event asks for, None for an event that sends nothing; BadEvent if the
    payload cannot be read."""
    try:
        if etype == USER_REGISTERED:
            draft = _welcome(msgspec.convert(data, UserRegistered, strict=False), renderer)
        elif etype in ORDER_KINDS:
            order = msgspec.convert(data, OrderEvent, strict=False)
            draft = _order_mail(ORDER_KINDS[etype], order, renderer)
        else:
            return None
    except (msgspec.ValidationError, ArithmeticError) as exc:
        # ArithmeticError: an amount msgspec reads as a Decimal but no price is ("Infinity").
        raise BadEvent(f"malformed {etype} payload: {exc}") from exc
    if "\x00" in draft.html or "\x00" in draft.text:
        raise BadEvent(f"{etype} payload contains a NUL character")
    return draft


def _welcome(user: UserRegistered, renderer: Renderer) -> Draft:
    recipient = valid_recipient(user.recipient)
    name = clean_header(user.name, 80)
    text, html = renderer.render("welcome", {"subject": "Welcome", "name": name,
                                             "email": recipient})
    subject = clean_header(f"Welcome to the shop, {name}" if name else "Welcome to the shop")
    return Draft(kind="welcome", user_id=user.user_id, order_id=None, recipient=recipient,
                 subject=subject, text=text, html=html)


def _order_mail(kind: Kind, order: OrderEvent, renderer: Renderer) -> Draft:
    recipient = valid_recipient(order.recipient)
    headline, intro = _HEADLINES[kind]
    subject = _SUBJECTS[kind].format(short=short_id(order.order_id))
    reason = clean_header(order.reason, 100) if kind == "order_cancelled" and order.reason else ""
    text, html = renderer.render("order", {
        "subject": subject, "headline": headline, "intro": intro, "order": order,
        "status": clean_header(order.status, 40) or _DEFAULT_STATUS[kind],
        "reason": reason, "reason_text": REASONS.get(reason, "See the reason code."),
    })
    return Draft(kind=kind, user_id=order.user_id, order_id=order.order_id, recipient=recipient,
                 subject=subject, text=text, html=html)


# -- delivery ----------------------------------------------------------------------------------
class Notifier:
    """Handles the events Dapr delivers; answers SUCCESS, RETRY or DROP."""

    def __init__(self, pool: asyncpg.Pool, sidecar: Sidecar, renderer: Renderer,
                 config: Config) -> None:
        self.pool = pool
        self.sidecar = sidecar
        self.renderer = renderer
        self.config = config

    async def handle(self, ce: CloudEvent) -> dict[str, str]:
        etype = event_type(ce)
        bound = log.bind(event_id=ce.id[:MAX_EVENT_ID], event_type=etype, topic=ce.topic)
        try:
            if not 1 <= len(ce.id) <= MAX_EVENT_ID:
                raise BadEvent(f"the CloudEvent id must have 1 to {MAX_EVENT_ID} characters")
            draft = draft_for(etype, ce.data, self.renderer)
        except BadEvent as exc:
            # Retrying cannot help: straight to the dead-letter topic, where it is recorded.
            bound.warning("event_unusable", error=str(exc))
            return DROP
        if draft is None:
            bound.debug("event_ignored")
            return SUCCESS
        return await self.deliver(ce.id, draft)

    async def deliver(self, event_id: str, draft: Draft) -> dict[str, str]:
        token = uuid.uuid4()
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + CLAIM_SECONDS + 1
        pause = 0.05
        first = True
        while True:
            claim = await repository.claim(self.pool, event_id, draft, token, CLAIM_SECONDS,
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
                await self.sidecar.invoke_binding(
                    EMAIL, "create", data=row["body_html"],
                    metadata={"emailTo": row["recipient"], "subject": row["subject"]})
        except (DomainError, TimeoutError) as exc:
            error = clean_header(str(exc) or type(exc).__name__, 500)
            outcome = await repository.record_failure(self.pool, row["id"], token, error,
                                                      self.config.max_attempts)
            if outcome is None:
                bound.warning("notification_claim_lost", error=error)
                return RETRY
            attempts, status = outcome
            if status == "failed":
                bound.error("notification_failed", attempts=attempts, error=error)
                return DROP
            bound.warning("notification_send_retry", attempts=attempts, error=error)
            return RETRY
        await repository.mark_sent(self.pool, row["id"])
        bound.info("notification_sent", attempts=row["attempts"] + 1)
        return SUCCESS

    async def record_dead_letter(self, envelope: Mapping[str, Any], raw: bytes) -> None:
        event_id = str(envelope.get("id") or "") or f"sha256:{_digest(raw)}"
        data = envelope.get("data")
        async with self.pool.acquire() as conn, conn.transaction():
            await repository.record_dead_letter(
                conn, event_id=event_id[:MAX_EVENT_ID], topic=str(envelope.get("topic") or ""),
                type_=str(envelope.get("type") or ""), source=str(envelope.get("source") or ""),
                data=_storable(data) if isinstance(data, dict) else None)
            # Dapr dead-letters on its own once its retries run out: never leave that pending.
            failed = await repository.fail_pending(
                conn, event_id, "dead-lettered: delivery retries exhausted")
        log.warning("dead_letter_recorded", event_id=event_id, topic=envelope.get("topic"),
                    type=envelope.get("type"), notification_failed=failed)


def _storable(value: Any) -> Any:
    """`value` without NUL characters, which jsonb refuses: a dead letter is recorded even
    when its payload is the reason it died."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _digest(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()[:32]


# -- the feed ----------------------------------------------------------------------------------
def _to_read(row: Mapping[str, Any], admin: bool) -> NotificationRead:
    return NotificationRead(
        id=row["id"], user_id=row["user_id"], kind=row["kind"], subject=row["subject"],
        order_id=row["order_id"], recipient=row["recipient"], status=row["status"],
        attempts=row["attempts"], read=row["read_at"] is not None, read_at=row["read_at"],
        created_at=row["created_at"], sent_at=row["sent_at"], body=row["body_text"],
        last_error=row["last_error"] if admin else None)


def _check_page(page: int, page_size: int) -> None:
    errors = []
    if page < 1:
        errors.append({"field": "page", "message": "must be 1 or more"})
    if not 1 <= page_size <= 100:
        errors.append({"field": "page_size", "message": "must be from 1 to 100"})
    if errors:
        raise InvalidInput("; ".join(f"{e['field']} {e['message']}" for e in errors),
                           errors=errors)


async def list_notifications(pool: asyncpg.Pool, caller: Identity, *, page: int, page_size: int,
                             order_id: uuid.UUID | None = None, status: str | None = None,
                             unread: bool | None = None) -> NotificationPage:
    """The caller's notifications, newest first; an admin sees everybody's."""
    _check_page(page, page_size)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           errors=[{"field": "status", "message": "unknown status"}])
    rows, total = await repository.list_page(
        pool, user_id=None if caller.is_admin else caller.user_id, order_id=order_id,
        status=status, unread=unread, limit=page_size, offset=(page - 1) * page_size)
    return NotificationPage(items=[_to_read(r, caller.is_admin) for r in rows], total=total,
                            page=page, page_size=page_size)


async def mark_read(pool: asyncpg.Pool, caller: Identity, notification_id: uuid.UUID,
                    read: bool) -> NotificationRead:
    """Owner only: anybody else (admins included) gets the same 404 as for a missing one."""
    row = await repository.set_read(pool, notification_id, caller.user_id, read)
    if row is None:
        raise NotFound("No such notification")
    return _to_read(row, caller.is_admin)


async def list_dead_letters(pool: asyncpg.Pool, *, page: int, page_size: int,
                            event_id: str | None = None) -> DeadLetterPage:
    _check_page(page, page_size)
    rows, total = await repository.list_dead_letters(
        pool, event_id=event_id, limit=page_size, offset=(page - 1) * page_size)
    items = [DeadLetterRead(event_id=r["event_id"], topic=r["topic"], type=r["type"],
                            source=r["source"], data=_json_or_none(r["data"]),
                            deliveries=r["deliveries"], received_at=r["received_at"],
                            last_received_at=r["last_received_at"],
                            redeliveries=r["redeliveries"],
                            last_redelivered_at=r["last_redelivered_at"],
                            last_redelivery_outcome=r["last_redelivery_outcome"]) for r in rows]
    return DeadLetterPage(items=items, total=total, page=page, page_size=page_size)


def _json_or_none(value: Any) -> dict[str, object] | None:
    if value is None:
        return None
    decoded = msgspec.json.decode(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else None
