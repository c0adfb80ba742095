"""Single-use, expiring links sent by e-mail: verify the address, reset the password.

A link carries a random 256-bit token (unguessable; nothing to sign, since the server keeps
the only record of it); users stores just its SHA-256 with the purpose, the user and the
expiry, and the first use marks it used in the same guarded UPDATE that checks it
(repository.use_link), so a link works once, before it expires, for its purpose only.
The token travels to the notifications service in the event that asks for the e-mail
(topic `users`, written to the outbox in the transaction that created the link), which
renders the link and sends it through the SMTP binding; it is not kept in the feed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from services.common.contracts.events import AccountLinkRequested, EventType
from services.users import repository
from services.users.outbox import OUTBOX

VERIFY: Final = "verify_email"
RESET: Final = "reset_password"
EVENTS: Final = {VERIFY: EventType.USER_VERIFICATION_REQUESTED,
                 RESET: EventType.USER_PASSWORD_RESET_REQUESTED}


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(conn: asyncpg.Connection, user: repository.UserRow, purpose: str,
                 ttl_seconds: int) -> AccountLinkRequested:
    """Create a link for `user` in the caller's transaction; only the newest link of a
    purpose works (the older ones are retired). Returns what its e-mail needs."""
    token = secrets.token_urlsafe(32)
    ttl = timedelta(seconds=ttl_seconds)
    await repository.retire_links(conn, user.id, purpose)
    link_id = await repository.insert_link(conn, digest=digest(token), user_id=user.id,
                                           purpose=purpose, ttl=ttl)
    return AccountLinkRequested(user_id=user.id, email=user.email, name=user.name,
                                link_id=link_id, token=token,
                                expires_at=datetime.now(UTC) + ttl)


async def issue(conn: asyncpg.Connection, user: repository.UserRow, purpose: str,
                ttl_seconds: int) -> None:
    """Create a link and ask for its own e-mail (a resent verification, a reset)."""
    link = await create(conn, user, purpose, ttl_seconds)
    await OUTBOX.add(conn, EVENTS[purpose], link)
