"""The outbox of users events (see services/common/outbox.py).

`user.registered` is written with the new account in one transaction, so neither exists
without the other; the registering request publishes it right after the commit.
"""

from __future__ import annotations

from services.common.names import TOPIC_USERS
from services.common.outbox import Outbox

OUTBOX = Outbox("user_outbox", TOPIC_USERS)

