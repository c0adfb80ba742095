"""Replicas on one machine, as on a cluster (`stack.py up --replicas orders=2,gateway=2`):
each replica has its own daprd under the same app id, so Dapr's name resolution spreads
invocations over them and placement spreads the workflow actors.

- One of two orders replicas (app and sidecar) is SIGKILLed during 60 checkouts and not
  restarted: the survivor finishes every order, including the workflows the dead replica
  hosted, none is lost and none charged twice.
- Two gateways share one rate limit through the statestore.

The extra replica is started beside the suite's stack and gone afterwards, so the stack
keeps its normal shape for the tests after these.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from tests.clients import new_address
from tests.conftest import Customer, is_problem, sidecar_url, stack
from tests.reliability.test_orders_crash import SETTLED, _check, _settle, log_size
from tests.shop import ORDERS, create_product, mint_customer, order_body

# Lines daprd writes at debug level for every call on a workflow actor, named by the
# workflow's instance id, which is the order id.
HOSTED = re.compile(rb"Workflow actor '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                    rb"[0-9a-f]{12})'")
SELFTEST_PATH, SELFTEST_LIMIT, SELFTEST_WINDOW = "/api/notifications/health", 5, 60


def hosted_since(log: Path, offset: int) -> set[str]:
    with log.open("rb") as fh:
        fh.seek(offset)
        return {m.decode() for m in HOSTED.findall(fh.read())}


def requests(log: Path, start: int, method: str) -> int:
    """Requests to /api/orders an app logged since `start` (its one access-log line each)."""
    with log.open("rb") as fh:
        fh.seek(start)
        return sum(b'"path": "/api/orders"' in line and f'"method": "{method}"'.encode() in line
                   for line in fh)


def offset_of(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


async def checkout_until_answered(gateway: httpx.AsyncClient, buyers: list[Customer],
                                  product: str, declined: set[int],
                                  first_failures: list[str]) -> list[httpx.Response]:
    """Each buyer checks out once, as a real client does: a failed attempt (its replica died
    under it) is sent again with the same Idempotency-Key until it is answered."""
    async def one(i: int, who: Customer) -> httpx.Response:
        body = order_body((product, 1),
                          payment_method="tok_decline" if i in declined else "tok_visa")
        headers = {**who.headers, "Idempotency-Key": f"replica-{uuid.uuid4()}"}
        deadline = time.monotonic() + 90
        while True:
            try:
                r = await gateway.post(ORDERS, headers=headers, json=body)
                if r.status_code in (200, 201) or time.monotonic() > deadline:
                    return r
                failure = f"{r.status_code} {r.text[:120]}"
            except httpx.HTTPError as exc:
                if time.monotonic() > deadline:
                    raise
                failure = repr(exc)[:120]
            first_failures.append(failure)
            await asyncio.sleep(1.0)

    return list(await asyncio.gather(*(one(i, b) for i, b in enumerate(buyers))))


@pytest.fixture
def second_orders(secrets: dict[str, str], dapr_headers: dict[str, str]) -> Iterator[stack.App]:
    """orders-2 on 3103 with its daprd (debug log: which workflow actors it hosts)."""
    (second,) = stack.start_replicas("orders", 2, daprd_args=("--log-level", "debug"))
    try:
        # Ready for actors: its daprd has joined placement with the workflow actor types.
        deadline = time.monotonic() + 60
        while True:
            r = httpx.get(f"http://127.0.0.1:{second.dapr_http}/v1.0/metadata",
                          headers=dapr_headers, timeout=5)
            actors = r.json().get("actorRuntime", {})
            if actors.get("hostReady") and "connected" in actors.get("placement", ""):
                break
            assert time.monotonic() < deadline, actors
            time.sleep(0.3)
        yield second
    finally:
        stack.stop_app(second, secrets)  # nothing left if the test killed it


@pytest.fixture
async def dbs(secrets: dict[str, str]) -> AsyncIterator[tuple[asyncpg.Connection,
                                                              asyncpg.Connection]]:
    orders = await asyncpg.connect(secrets["orders-db-dsn"])
    payments = await asyncpg.connect(secrets["payments-db-dsn"])
    try:
        yield orders, payments
    finally:
        await orders.close()
        await payments.close()


async def test_survivor_finishes_the_workflows_of_a_killed_orders_replica(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], secrets: dict[str, str],
        dbs: tuple[asyncpg.Connection, asyncpg.Connection], second_orders: stack.App) -> None:
    orders_db = dbs[0]
    sidecar_log = stack.LOGS / f"{second_orders.name}-dapr.log"
    app_log = stack.LOGS / f"{second_orders.name}.log"
    start_sidecar, start_app = offset_of(sidecar_log), offset_of(app_log)
    first_app_log = stack.LOGS / "orders.log"
    start_first = offset_of(first_app_log)
    product = await create_product(gateway, admin_headers, price="2.00", stock=1000,
                                   name="Replica")
    buyers = [mint_customer(secrets) for _ in range(60)]
    user_ids = [uuid.UUID(b.id) for b in buyers]
    # Name resolution spreads the gateway's invocations over both replicas (a random live
    # host, though calls close together often reach the same one: spread them out).
    deadline = time.monotonic() + 30
    while not (requests(app_log, start_app, "GET") and requests(first_app_log, start_first,
                                                                 "GET")):
        assert time.monotonic() < deadline, "every call went to one replica"
        assert (await gateway.get(ORDERS, headers=buyers[0].headers)).status_code == 200
        await asyncio.sleep(0.5)
    declined = set(range(3, 60, 7))
    offset = log_size()
    failures: list[str] = []
    # Inventory frozen (SIGSTOP) until just after the kill: every workflow waits in its
    # reservation, so orders-2 surely dies with work in flight. (A one-activity checkout
    # can finish between seeing a workflow on orders-2 and the kill: the test then had
    # nothing to check.) The retry policies outlast the few seconds of the freeze.
    inventory = int((stack.RUN / "inventory.pid").read_text())
    os.kill(inventory, signal.SIGSTOP)
    try:
        placing = asyncio.create_task(
            checkout_until_answered(gateway, buyers, product, declined, failures))

        # Kill orders-2 as soon as it hosts a workflow that has not finished yet.
        in_flight: set[str] = set()
        deadline = time.monotonic() + 30
        while not in_flight and time.monotonic() < deadline and not placing.done():
            pending = {str(r["id"]) for r in await orders_db.fetch(
                "SELECT id FROM orders WHERE user_id = ANY($1::uuid[]) AND status = 'pending'",
                user_ids)}
            in_flight = hosted_since(sidecar_log, start_sidecar) & pending
            if not in_flight:
                await asyncio.sleep(0.05)
        assert in_flight, "orders-2 hosted no workflow in flight: placement did not spread them"
        await asyncio.to_thread(stack.stop_app, second_orders, secrets, kill=True)
        killed_at = time.monotonic()
        hosted = hosted_since(sidecar_log, start_sidecar)
        unfinished = {str(r["id"]) for r in await orders_db.fetch(
            "SELECT id FROM orders WHERE id = ANY($1::uuid[]) AND status = 'pending'",
            [uuid.UUID(i) for i in hosted])}
    finally:
        os.kill(inventory, signal.SIGCONT)
    responses = await placing

    # Nothing restarts orders-2: the survivor finishes everything (its reconciler also
    # schedules any order orders-2 stored but died before scheduling).
    rows = await _settle(orders_db, user_ids, timeout=180)
    assert [r.status_code for r in responses if r.status_code not in (200, 201)] == [], failures
    summary = await _check(gateway, dbs, buyers, product, responses, offset)
    # Every one of the 60 checkouts became exactly one order (_check: none twice); a retry
    # whose first attempt had stored the order got that order back (200).
    answered = {r.json()["id"] for r in responses}
    assert summary["orders"] == len(answered) == 60, (summary, failures)
    assert answered == {str(r["id"]) for r in rows}
    # The attempts a dead replica cut short were 503 problems, never a 500.
    assert not [f for f in failures if f.startswith("500")], failures
    by_id = {str(r["id"]): r["status"] for r in rows}
    assert unfinished, "nothing of orders-2 was left to take over"
    assert {i: by_id[i] for i in unfinished if by_id[i] not in SETTLED} == {}

    assert not stack.port_open(second_orders.port), "orders-2 stays dead"
    # Its name-resolution entry lapses 5 s after its last renewal; the tests after this one
    # must not be sent to it.
    await asyncio.sleep(max(0.0, killed_at + 6 - time.monotonic()))


def client_of(port: int, address: str) -> httpx.AsyncClient:
    """A client of the gateway on `port` whose connections come from `address` (the
    gateways believe no forwarding header here; tests/clients.py)."""
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                             transport=httpx.AsyncHTTPTransport(local_address=address))


async def test_two_gateways_share_a_rate_limit(secrets: dict[str, str],
                                               dapr_headers: dict[str, str]) -> None:
    """gateway-2 on 8180 beside the gateway on 8080: a client that used up its limit on one
    is refused by the other, which never saw those requests."""
    (second,) = stack.start_replicas("gateway", 2)
    try:
        async with client_of(second.port, "127.0.0.1") as gateway2:
            r = await gateway2.get("/health")
            assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        now = time.time()
        if SELFTEST_WINDOW - now % SELFTEST_WINDOW < 20:  # one window for the whole test
            await asyncio.sleep(SELFTEST_WINDOW - now % SELFTEST_WINDOW + 0.2)
        window = int(time.time() // SELFTEST_WINDOW)
        first_port = stack.app_by_id("gateway").port
        for counting_port, other_port in ((first_port, second.port), (second.port, first_port)):
            address = new_address()
            async with client_of(counting_port, address) as counting, \
                    client_of(other_port, address) as other:
                codes = [(await counting.get(SELFTEST_PATH)).status_code
                         for _ in range(SELFTEST_LIMIT)]
                assert codes == [200] * SELFTEST_LIMIT
                # The counting replica merges its counts into the statestore ...
                key = quote(f"ratelimit|selftest|{address}|{window}", safe="")
                async with httpx.AsyncClient(headers=dapr_headers) as dapr:
                    url = f"{sidecar_url('gateway')}/v1.0/state/statestore/{key}"
                    deadline = time.monotonic() + 10
                    stored = None
                    while stored != SELFTEST_LIMIT and time.monotonic() < deadline:
                        got = await dapr.get(url)
                        stored = got.json() if got.status_code == 200 else None
                        await asyncio.sleep(0.2)
                    assert stored == SELFTEST_LIMIT, key
                # ... and the other, which has seen none of these requests, refuses the next.
                await asyncio.sleep(2.5)  # > its merge interval (RATE_LIMIT_SYNC_SECONDS)
                r = await other.get(SELFTEST_PATH)
                assert "selftest" in is_problem(r, 429)["detail"]
    finally:
        stack.stop_app(second, secrets)
    assert not stack.port_open(second.port)
