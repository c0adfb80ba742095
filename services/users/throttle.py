"""Guess limits that hold under any concurrency, kept in the users database.

A guess (a login or a password check) first takes a slot in every counter that applies,
in one transaction: each slot is a guarded upsert (`... ON CONFLICT DO UPDATE ... WHERE
hits < limit`) that takes the row's lock, so concurrent guesses queue on the row and
the (limit + 1)th finds it full, whatever the number of replicas or requests in flight.
A counter that is full rolls the whole transaction back (no slot taken anywhere) and the
guess is refused with 429 before the password is even looked at. A guess that turns out
right gives its slots back (`release`); a wrong one keeps them.

The login counters (services.users.service):
- per account and address: the owner's own address is never locked by guesses made
  from elsewhere;
- per address: one client spraying many accounts;
- per account over a longer window across all addresses: a botnet gets a bounded number
  of guesses per account per hour, whatever the number of its addresses.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

import asyncpg

from services.common.errors import TooManyRequests

_TAKE = """
INSERT INTO throttle AS t (key, hits, window_end)
VALUES ($1, 1, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN t.window_end <= now() THEN 1 ELSE t.hits + 1 END,
    window_end = CASE WHEN t.window_end <= now() THEN now() + make_interval(secs => $3)
                      ELSE t.window_end END
WHERE t.window_end <= now() OR t.hits < $2
RETURNING hits
"""
_RETRY_AFTER = ("SELECT greatest(extract(epoch FROM window_end - now()), 1)::float8 "
                "FROM throttle WHERE key = $1")
_GIVE_BACK = "UPDATE throttle SET hits = greatest(hits - 1, 0) WHERE key = ANY($1::text[])"
_FORGET = "DELETE FROM throttle WHERE key = ANY($1::text[])"
_SWEEP = "DELETE FROM throttle WHERE window_end < now() - interval '1 hour'"


def key(kind: str, *subject: str) -> str:
    """A counter's key; the subject (e-mail, address) is stored only as a digest."""
    digest = hashlib.sha256("\x00".join(subject).encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


@dataclass(frozen=True)
class Limit:
    """At most `limit` guesses per `window` seconds for the counter `key`."""

    key: str
    limit: int
    window: int


class Throttle:
    def __init__(self, db: asyncpg.Pool, what: str = "failed logins") -> None:
        self.db = db
        self.what = what

    async def take(self, limits: list[Limit]) -> list[str]:
        """Take one slot in every counter, or none and raise TooManyRequests (429)."""
        async with self.db.acquire() as conn, conn.transaction():
            # A fixed order of kinds on every path: no two guesses wait on each other's rows.
            for lim in limits:
                if await conn.fetchval(_TAKE, lim.key, lim.limit, float(lim.window)) is None:
                    wait = await conn.fetchval(_RETRY_AFTER, lim.key) or float(lim.window)
                    raise TooManyRequests(f"Too many {self.what}; try again later",
                                          retry_after=max(1, math.ceil(wait)))
            if random.random() < 0.01:  # occasional housekeeping
                await conn.execute(_SWEEP)
        return [lim.key for lim in limits]

    async def give_back(self, keys: list[str]) -> None:
        """The guess was right: it does not count against these counters."""
        if keys:
            await self.db.execute(_GIVE_BACK, keys)

    async def forget(self, keys: list[str]) -> None:
        """Clear these counters (the owner proved who they are from here)."""
        if keys:
            await self.db.execute(_FORGET, keys)
