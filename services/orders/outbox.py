"""The outbox of order events (see services/common/outbox.py).

A status change and the event announcing it are written in one transaction
(services.orders.service.transition). The activity that made the change publishes that
order's events right after the commit; the drainer is the safety net for rows left behind
by a crash between the commit and the publish. Consumers are idempotent by (order_id, type).
"""

from __future__ import annotations

from services.common.names import TOPIC_ORDERS
from services.common.outbox import Outbox

OUTBOX = Outbox("order_outbox", TOPIC_ORDERS, key_column="order_id")

