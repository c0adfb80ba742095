"""Events into e-mails: which event asks for which e-mail, and its rendering.

Pure code (no database, no sidecar). Templates are Jinja2 files in templates/: `<name>.txt`
plain and `<name>.html` autoescaped, so names from users cannot inject markup. The
bindings.smtp component (components-contrib 1.18) sends one `text/html` part only (gomail's
SetBody, no alternative part), so the e-mail is the HTML rendering; the plain-text rendering
is kept with the notification and shown in the feed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import jinja2
import msgspec

from services.common.contracts import events
from services.common.contracts.events import (
    AccountLinkRequested,
    CancelReason,
    EventType,
    OrderEvent,
    UserRegistered,
)
from services.common.events import CloudEvent
from services.common.money import fmt
from services.notifications.schemas import Draft, Kind

TEMPLATES: Final = Path(__file__).parent / "templates"
SHOP_NAME: Final = "ecommerce-dapr shop"

ORDER_KINDS: Final[dict[str, Kind]] = {
    EventType.ORDER_CONFIRMED: "order_confirmed",
    EventType.ORDER_CANCELLED: "order_cancelled",
    EventType.ORDER_SHIPPED: "order_shipped",
    EventType.ORDER_DELIVERED: "order_delivered",
}
# Account links: the kind, the page of the shop the link opens, the subject.
LINK_KINDS: Final[dict[str, tuple[Kind, str, str]]] = {
    EventType.USER_VERIFICATION_REQUESTED: ("verify_email", "account/verify-email",
                                            "Confirm your e-mail address"),
    EventType.USER_PASSWORD_RESET_REQUESTED: ("password_reset", "account/reset-password",
                                              "Reset your password"),
}
# order.created is followed within seconds by order.confirmed or order.cancelled; an e-mail
# for it would only be noise, so it is acknowledged and not recorded.
IGNORED: Final = frozenset({EventType.ORDER_CREATED.value})

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
    CancelReason.OUT_OF_STOCK: "Some of the items are out of stock.",
    CancelReason.PAYMENT_DECLINED: "The payment was declined.",
    CancelReason.CANCELLED_BY_CUSTOMER: "You cancelled the order.",
}
# One address only: the binding splits emailTo on ";" and a header must not contain a newline.
_EMAIL_RE: Final = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class BadEvent(Exception):
    """An event that can never become an e-mail (malformed payload, unusable address)."""


def _money(value: Decimal, currency: str = "") -> str:
    return f"{fmt(Decimal(value))} {currency}".strip()


class Renderer:
    """Jinja2 templates: `<name>.txt` (plain) and `<name>.html` (autoescaped)."""

    def __init__(self, directory: Path = TEMPLATES,
                 shop_url: str = "http://127.0.0.1:8080") -> None:
        self.shop_url = shop_url.rstrip("/")
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
    if ce.type in ORDER_KINDS or ce.type in IGNORED or ce.type == EventType.USER_REGISTERED \
            or ce.type in LINK_KINDS:
        return ce.type
    inner = ce.data.get("type")
    return inner if isinstance(inner, str) else ce.type


def draft_for(etype: str, data: Mapping[str, Any], renderer: Renderer) -> Draft | None:
    """The e-mail an event asks for, None for an event that sends nothing; BadEvent if the
    payload cannot be read."""
    try:
        if etype == EventType.USER_REGISTERED:
            draft = _welcome(events.decode(data, UserRegistered), renderer)
        elif etype in LINK_KINDS:
            draft = _link_mail(etype, events.decode(data, AccountLinkRequested), renderer)
        elif etype in ORDER_KINDS:
            draft = _order_mail(ORDER_KINDS[etype], events.decode(data, OrderEvent), renderer)
        else:
            return None
    except (msgspec.ValidationError, ArithmeticError) as exc:
        # ArithmeticError: an amount msgspec reads as a Decimal but no price is ("Infinity").
        raise BadEvent(f"malformed {etype} payload: {exc}") from exc
    if "\x00" in draft.html or "\x00" in draft.text:
        raise BadEvent(f"{etype} payload contains a NUL character")
    return draft


def _welcome(user: UserRegistered, renderer: Renderer) -> Draft:
    recipient = valid_recipient(user.email)
    name = clean_header(user.name, 80)
    context: dict[str, Any] = {"subject": "Welcome", "name": name, "email": recipient,
                               "url": None, "expires_at": None}
    if user.verify_token:  # the address is to be confirmed with the link (the HTML only)
        context["url"] = f"{renderer.shop_url}/account/verify-email?token={user.verify_token}"
        context["expires_at"] = (user.verify_expires_at.strftime("%Y-%m-%d %H:%M UTC")
                                 if user.verify_expires_at else "")
    _, html = renderer.render("welcome", context)
    text, _ = renderer.render("welcome", {**context, "url": context["url"] and
                                          "(the link in the e-mail)"})
    subject = clean_header(f"Welcome to the shop, {name}" if name else "Welcome to the shop")
    return Draft(kind="welcome", user_id=user.user_id, order_id=None, recipient=recipient,
                 subject=subject, text=text, html=html)


def _link_mail(etype: str, link: AccountLinkRequested, renderer: Renderer) -> Draft:
    """The e-mail carrying a single-use link. The link is in the HTML that is sent; the
    plain text kept for the feed names it without the token, so nobody reading the feed
    (an admin included) can use it."""
    kind, page, subject = LINK_KINDS[etype]
    recipient = valid_recipient(link.email)
    url = f"{renderer.shop_url}/{page}?token={link.token}"
    context = {"subject": subject, "name": clean_header(link.name, 80), "url": url,
               "expires_at": link.expires_at.strftime("%Y-%m-%d %H:%M UTC")}
    _, html = renderer.render(kind, context)
    text, _ = renderer.render(kind, {**context, "url": "(the link in the e-mail)"})
    return Draft(kind=kind, user_id=link.user_id, order_id=None, recipient=recipient,
                 subject=subject, text=text, html=html, fact=link.link_id)


def _order_mail(kind: Kind, order: OrderEvent, renderer: Renderer) -> Draft:
    recipient = valid_recipient(order.user_email)
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
