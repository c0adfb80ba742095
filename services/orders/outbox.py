"""The outbox of order events (see services/common/outbox.py).

A status change and the event announcing it are written in one transaction
(services.orders.service.transition). Right after the commit, the request or the activity
that made the change wakes the app's relay, which publishes the order's events (with the
trace of the change) and anything a crash left behind. Consumers are idempotent by
(order_id, type).
"""

from __future__ import annotations

from services.common.names import TOPIC_ORDERS
from services.common.outbox import Outbox

OUTBOX = Outbox("order_outbox", TOPIC_ORDERS, key_column="order_id")

