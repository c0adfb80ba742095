"""Publishing and receiving events through the `pubsub` component (CloudEvents).

Publishers send `{"type": "<event.name>", ...}` and set the CloudEvent type to the same
name. Subscribers declare `Subscription`s; `subscribe_route()` serves Dapr's programmatic
`GET /dapr/subscribe`, each with the shared dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec
import structlog
from litestar import Controller, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from services.common.dapr import Sidecar
from services.common.errors import Forbidden
from services.common.internal import caller_app_ids
from services.common.names import DEAD_LETTER_TOPIC, PUBSUB

log = structlog.get_logger(__name__)


async def publish(sidecar: Sidecar, topic: str, event_type: str,
                  data: Mapping[str, object]) -> None:
    """Publish one event; `data` is its payload (services.common.contracts.events) as JSON
    members, to which `type` is added."""
    await sidecar.publish(PUBSUB, topic, {"type": event_type, **data},
                          metadata={"cloudevent.type": event_type})


EVENTS_PATH: Final = "/internal/events"


def delivered_by_pubsub(connection: ASGIConnection[Any, Any, Any, Any],
                        _: BaseRouteHandler) -> None:
    """Only the app's own daprd delivering a subscription may post here (the app's
    SidecarOnlyGuard checked the token). A call by service invocation carries the calling
    app's `dapr-caller-app-id`, which a pub/sub delivery never does: any other app calling
    this route through its sidecar would otherwise forge an event."""
    if caller_app_ids(connection):
        raise Forbidden("Events are delivered by the pub/sub component, not invoked")


class EventController(Controller):
    """Base of the routes Dapr delivers a service's subscribed events to: `/internal/events/
    <topic>`, out of the OpenAPI document. Subclasses add one POST handler per topic."""

    path = EVENTS_PATH
    include_in_schema = False
    guards = [delivered_by_pubsub]


class Subscription(msgspec.Struct, frozen=True):
    topic: str
    route: str
    dead_letter_topic: str = DEAD_LETTER_TOPIC


class CloudEvent(msgspec.Struct, kw_only=True):
    """The envelope Dapr delivers to a subscriber; `data` is what the publisher sent."""

    id: str
    type: str = ""
    source: str = ""
    topic: str = ""
    time: str | None = None
    data: dict[str, Any] = {}


_envelope: Final = msgspec.json.Decoder(CloudEvent)


def decode_cloud_event(raw: bytes, route: str) -> CloudEvent | None:
    """The envelope Dapr delivered to `route`; None (logged) when the body is not one, which
    no redelivery can fix: the subscriber answers DROP."""
    try:
        return _envelope.decode(raw)
    except msgspec.DecodeError as exc:
        log.warning("event_undecodable", route=route, error=str(exc)[:300])
        return None


# What a subscriber answers: SUCCESS acks, RETRY redelivers, DROP sends to dead letter.
SUCCESS = {"status": "SUCCESS"}
RETRY = {"status": "RETRY"}
DROP = {"status": "DROP"}


def subscribe_route(subscriptions: Sequence[Subscription]) -> Any:
    body = [{"pubsubname": PUBSUB, "topic": s.topic, "route": s.route,
             "deadLetterTopic": s.dead_letter_topic} for s in subscriptions]

    @get("/dapr/subscribe", include_in_schema=False, sync_to_thread=False)
    def dapr_subscribe() -> list[dict[str, str]]:
        return body

    return dapr_subscribe
