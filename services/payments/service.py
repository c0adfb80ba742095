"""Payments domain: charges and refunds keyed by the caller's idempotency key.

A charge is first claimed as a `pending` row (INSERT ... ON CONFLICT DO NOTHING), then the
provider is called with the same key and the outcome stored. Concurrent requests with one
key find the row and wait for its outcome; a request that finds a pending row whose
provider call is stale (the first request crashed) takes it over, which is safe because the
provider is idempotent per key. A different body with a known key is a 422.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

import asyncpg
import msgspec
import structlog

from services.common.contracts.errors import ErrorCode
from services.common.errors import InvalidInput, NotFound, Unavailable
from services.common.internal import CodedError
from services.common.money import fmt, to_money
from services.payments import repository
from services.payments.provider import Provider, ProviderError
from services.payments.schemas import ChargeCreate, ChargeRead, RefundCreate, RefundRead

log = structlog.get_logger(__name__)
_R = TypeVar("_R")

# A provider call older than this is presumed dead and may be taken over.
LEASE = timedelta(seconds=15)
# How long a request waits for a concurrent request with the same key to finish.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


def parse_amount(value: object, field: str = "amount") -> Decimal:
    try:
        amount = to_money(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} {exc}", errors=[{"field": field, "message": str(exc)}]) \
            from exc
    if amount <= 0:
        raise InvalidInput(f"{field} must be greater than 0",
                           errors=[{"field": field, "message": "must be greater than 0"}])
    return amount


def digest(*parts: object) -> str:
    return hashlib.sha256(msgspec.json.encode([str(p) for p in parts])).hexdigest()


def charge_read(row: asyncpg.Record) -> ChargeRead:
    return ChargeRead(charge_id=row["id"], order_id=row["order_id"], status=row["status"],
                      amount=fmt(row["amount"]), currency=row["currency"],
                      refunded_amount=fmt(row["refunded_amount"]),
                      decline_reason=row["decline_reason"])


def refund_read(row: asyncpg.Record) -> RefundRead:
    return RefundRead(refund_id=row["id"], charge_id=row["charge_id"], status=row["status"],
                      amount=fmt(row["amount"]))


class PaymentsService:
    """Charges and refunds over one database pool and one provider."""

    def __init__(self, pool: asyncpg.Pool, provider: Provider) -> None:
        self.pool = pool
        self.provider = provider

    # -- charges ------------------------------------------------------------------------------
    async def charge(self, req: ChargeCreate) -> ChargeRead:
        amount = parse_amount(req.amount)
        self.provider.check_method(req.payment_method)
        request_hash = digest(req.order_id, req.user_id, fmt(amount), req.currency,
                              req.payment_method)
        row = await repository.claim_charge(
            self.pool, charge_id=uuid.uuid4(), idempotency_key=req.idempotency_key,
            order_id=req.order_id, user_id=req.user_id, amount=amount, currency=req.currency,
            payment_method=req.payment_method, provider=self.provider.name,
            request_hash=request_hash)
        if row is None:
            row = await repository.get_charge_by_key(self.pool, req.idempotency_key)
            if row is None:  # keys are never deleted
                raise RuntimeError(f"charge with key {req.idempotency_key!r} vanished")
            if row["request_hash"] != request_hash:
                raise InvalidInput("This idempotency_key was used for a different charge")
            if row["status"] == "pending":
                row = await self._wait(row, self._take_over_charge, repository.get_charge,
                                       ErrorCode.CHARGE_IN_PROGRESS)
        else:
            row = await self._settle_charge(row)
        return charge_read(row)

    async def get_charge(self, charge_id: uuid.UUID) -> ChargeRead:
        row = await repository.get_charge(self.pool, charge_id)
        if row is None or row["status"] == "pending":
            raise NotFound(f"No charge {charge_id}")
        return charge_read(row)

    async def _settle_charge(self, row: asyncpg.Record) -> asyncpg.Record:
        result = await _from_provider(
            self.provider.charge(idempotency_key=row["idempotency_key"], amount=row["amount"],
                                 currency=row["currency"], payment_method=row["payment_method"]),
            lambda: repository.release_charge_lease(self.pool, row["id"]), "charge", row["id"])
        settled = await repository.settle_charge(
            self.pool, row["id"], succeeded=result.succeeded,
            decline_reason=result.decline_reason, provider_ref=result.reference)
        if settled is None:  # another request settled it first: same provider outcome
            settled = await repository.get_charge(self.pool, row["id"])
        assert settled is not None
        log.info("charge_settled", charge_id=str(row["id"]), order_id=str(row["order_id"]),
                 status=settled["status"])
        return settled

    async def _take_over_charge(self, charge_id: uuid.UUID) -> asyncpg.Record | None:
        row = await repository.take_over_charge(self.pool, charge_id, LEASE)
        return None if row is None else await self._settle_charge(row)

    # -- refunds ------------------------------------------------------------------------------
    async def refund(self, req: RefundCreate) -> RefundRead:
        amount = parse_amount(req.amount)
        request_hash = digest(req.charge_id, fmt(amount))
        row = await repository.get_refund_by_key(self.pool, req.idempotency_key)
        if row is None:
            claimed, row = await self._claim_refund(req, amount, request_hash)
            if claimed:
                return refund_read(await self._settle_refund(row))
        if row["request_hash"] != request_hash:
            raise InvalidInput("This idempotency_key was used for a different refund")
        if row["status"] == "pending":
            row = await self._wait(row, self._take_over_refund, repository.get_refund,
                                   ErrorCode.REFUND_IN_PROGRESS)
        if row["status"] == "failed":
            raise CodedError(409, ErrorCode.REFUND_FAILED,
                             "The provider refused this refund; use a new idempotency_key")
        return refund_read(row)

    async def _claim_refund(self, req: RefundCreate, amount: Decimal,
                            request_hash: str) -> tuple[bool, asyncpg.Record]:
        """Hold `amount` against the charge and insert the pending refund, in one
        transaction under the charge's row lock (so refunds of one charge serialise).
        Returns (True, row) when this request inserted it, (False, row) when another did."""
        async with self.pool.acquire() as conn, conn.transaction():
            charge = await repository.get_charge(conn, req.charge_id, for_update=True)
            if charge is None:
                raise NotFound(f"No charge {req.charge_id}")
            inserted = await repository.claim_refund(
                conn, refund_id=uuid.uuid4(), idempotency_key=req.idempotency_key,
                charge_id=req.charge_id, amount=amount, request_hash=request_hash)
            if inserted is None:  # a concurrent request with this key won the race
                existing = await repository.get_refund_by_key(conn, req.idempotency_key)
                assert existing is not None
                return False, existing
            if charge["status"] != "succeeded":
                raise CodedError(409, ErrorCode.CHARGE_NOT_REFUNDABLE,
                                 f"Charge {req.charge_id} is {charge['status']}; only a "
                                 "succeeded charge can be refunded")
            if await repository.hold_refund_amount(conn, req.charge_id, amount) is None:
                left = charge["amount"] - charge["refunded_amount"]
                raise CodedError(409, ErrorCode.REFUND_EXCEEDS_CHARGE,
                                 f"Only {fmt(left)} of charge {req.charge_id} is left to refund",
                                 refundable=fmt(left))
            return True, inserted

    async def _settle_refund(self, record: asyncpg.Record) -> asyncpg.Record:
        charge = await repository.get_charge(self.pool, record["charge_id"])
        assert charge is not None
        result = await _from_provider(
            self.provider.refund(idempotency_key=record["idempotency_key"],
                                 charge_reference=charge["provider_ref"],
                                 amount=record["amount"], currency=charge["currency"]),
            lambda: repository.release_refund_lease(self.pool, record["id"]), "refund",
            record["id"])
        if not result.succeeded:
            async with self.pool.acquire() as conn, conn.transaction():
                failed = await repository.fail_refund(conn, record["id"])
                if failed is not None:  # give the held amount back to the charge
                    await repository.return_refund_amount(conn, record["charge_id"],
                                                          record["amount"])
            raise CodedError(409, ErrorCode.REFUND_FAILED, "The provider refused this refund")
        settled = await repository.settle_refund(self.pool, record["id"], result.reference)
        if settled is None:
            settled = await repository.get_refund(self.pool, record["id"])
        assert settled is not None
        log.info("refund_settled", refund_id=str(record["id"]),
                 charge_id=str(record["charge_id"]), status=settled["status"])
        return settled

    async def _take_over_refund(self, refund_id: uuid.UUID) -> asyncpg.Record | None:
        row = await repository.take_over_refund(self.pool, refund_id, LEASE)
        return None if row is None else await self._settle_refund(row)

    # -- waiting for a concurrent request -----------------------------------------------------
    async def _wait(self, row: asyncpg.Record,
                    take_over: Callable[[uuid.UUID], Awaitable[asyncpg.Record | None]],
                    reload: Callable[[asyncpg.Pool, uuid.UUID], Awaitable[asyncpg.Record | None]],
                    code: ErrorCode) -> asyncpg.Record:
        """Wait until a pending row is settled by the request that claimed it, or take it
        over once that request's provider call is stale."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            taken = await take_over(row["id"])
            if taken is not None:
                return taken
            current = await reload(self.pool, row["id"])
            assert current is not None
            if current["status"] != "pending":
                return current
            if time.monotonic() > deadline:
                raise CodedError(409, code, "A request with this idempotency_key is still "
                                 "being processed; retry shortly")
            await asyncio.sleep(POLL_SECONDS)


async def _from_provider(call: Awaitable[_R], release: Callable[[], Awaitable[None]],
                         what: str, record_id: uuid.UUID) -> _R:
    """The provider's answer; when it fails, give up the lease (`release`) so a retry with
    the same idempotency key can try again, and answer 503."""
    try:
        result = await call
    except ProviderError as exc:
        await release()
        log.warning(f"provider_{what}_failed", record_id=str(record_id), error=str(exc))
        raise Unavailable("The payment provider is unavailable; retry with the same "
                          "idempotency_key") from exc
    return result
