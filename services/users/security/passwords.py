"""argon2id password hashing off the event loop.

OWASP's argon2id baseline (m=19 MiB, t=2, p=1). Hashing runs in a worker thread so a
login never stalls other requests; a failed lookup verifies against a dummy hash so an
unknown e-mail costs the same time as a wrong password.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
# Characters; also bounds the bytes hashed (at most 4 per character in UTF-8).
MAX_LENGTH = 128

HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32,
                        salt_len=16, type=Type.ID)


class Passwords:
    """Hash, verify and detect outdated parameters with one configured hasher."""

    def __init__(self, hasher: PasswordHasher = HASHER) -> None:
        self.hasher = hasher
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no stored hash, spend the same time and fail."""
        if stored_hash is None:
            await asyncio.to_thread(self._verify, await self.dummy_hash(), password)
            return False
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)

    async def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash("dummy password for unknown accounts")
        return self._dummy

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
