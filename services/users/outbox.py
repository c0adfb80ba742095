"""The outbox of users events (see services/common/outbox.py).

`user.registered` is written with the new account in one transaction, so neither exists
without the other; the registering request publishes it right after the commit.
"""

from __future__ import annotations

import asyncpg

from services.common.dapr import Sidecar
from services.common.names import TOPIC_USERS
from services.common.outbox import Drainer, Outbox

OUTBOX = Outbox("user_outbox", TOPIC_USERS)


async def flush(pool: asyncpg.Pool, sidecar: Sidecar) -> int:
    return await OUTBOX.flush(pool, sidecar)


def drainer(pool: asyncpg.Pool, sidecar: Sidecar) -> Drainer:
    return Drainer(OUTBOX, pool, sidecar, interval_s=5.0, min_age_s=2.0)
