"""argon2id hashing of the users service (no stack needed)."""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher, Type

from services.users.security.passwords import HASHER, MAX_LENGTH, MIN_LENGTH, Passwords


def test_owasp_argon2id_parameters() -> None:
    params = HASHER._parameters
    assert params.type is Type.ID
    assert params.memory_cost >= 19_456 and params.time_cost >= 2 and params.parallelism >= 1
    assert (MIN_LENGTH, MAX_LENGTH) == (8, 128)


async def test_hash_and_verify() -> None:
    pw = Passwords()
    stored = await pw.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in stored
    assert await pw.verify(stored, "correct horse battery staple")
    assert not await pw.verify(stored, "correct horse battery stapl")
    assert not await pw.verify("not a hash", "anything")
    assert not pw.needs_rehash(stored)


async def test_unknown_account_verifies_against_a_dummy_and_fails() -> None:
    """An unknown e-mail costs one real argon2id verification with the same parameters as
    an account's hash, so it answers in the time a wrong password does (the time itself is
    measured in bench/, never asserted in tests)."""

    class Counting(PasswordHasher):
        verified: list[str] = []

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            self.verified.append(str(hash))
            return super().verify(hash, password)

    hasher = Counting(time_cost=HASHER.time_cost, memory_cost=HASHER.memory_cost,
                      parallelism=HASHER.parallelism, hash_len=HASHER.hash_len,
                      salt_len=HASHER.salt_len, type=HASHER.type)
    pw = Passwords(hasher)
    assert not await pw.verify(None, "dummy password for unknown accounts")
    dummy = await pw.dummy_hash()
    assert hasher.verified == [dummy]
    account = await pw.hash("an account's password")
    assert dummy.split("$")[:4] == account.split("$")[:4]  # argon2id, version, m/t/p


async def test_weaker_hashes_are_flagged_for_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    old = weak.hash("password123")
    pw = Passwords()
    assert await pw.verify(old, "password123")
    assert pw.needs_rehash(old)
