"""Benchmark of checkout through the gateway: POST /api/orders until the order workflow has
reserved stock, charged the payment and marked the order `processing`.

Run against a running stack (`scripts/stack.py up --detach`):

    .venv/bin/python bench/bench_checkout.py [--burst 200] [--concurrency 50]
                                             [--rate 20] [--duration 15] [--customers 20]
                                             [--cpu]

Two runs, one table:
  burst   N checkouts at once (at most --concurrency POSTs in flight): orders per second from
          the first POST to the last order reaching `processing`;
  steady  an open-loop fixed rate (--rate orders/s for --duration s): latency at that load.
Latency is per order, from just before its POST to the server's `processing` timestamp in
the order's status history (same machine, same clock), so polling adds no error; progress
is watched in the orders database, so watching adds no load on the API either.
Afterwards it checks that no order was lost or duplicated: every POST answered 201 with its
own order id, every order reached `processing`, each customer lists exactly the orders
they placed, and (when the payments database is reachable with the DSN in
.local/secrets.json) each order holds exactly one succeeded charge. Exit status 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

GATEWAY = "http://127.0.0.1:8080"
ROOT = Path(__file__).resolve().parent.parent
SECRETS = ROOT / ".local" / "secrets.json"
PASSWORD = "bench password 0123"  # noqa: S105 (throwaway bench accounts)
ADDRESS = {"line1": "1 Bench Road", "city": "Loadville", "postal_code": "40404", "country": "US"}


@dataclass
class Placed:
    customer: int
    sent_at: float  # wall clock (time.time()) just before the POST
    status: int = 0
    order_id: str | None = None
    processing_at: float | None = None
    final_status: str | None = None
    error: str | None = None


@dataclass
class Run:
    name: str
    placed: list[Placed] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def latencies_ms(self) -> list[float]:
        return sorted((p.processing_at - p.sent_at) * 1000 for p in self.placed
                      if p.processing_at is not None)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def post_patiently(client: httpx.AsyncClient, url: str, body: dict[str, str],
                         tries: int = 30) -> httpx.Response:
    """POST, waiting out 429s (the users service throttles logins and sign-ups)."""
    for _ in range(tries):
        r = await client.post(url, json=body)
        if r.status_code != 429:
            break
        await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 10.0))
    r.raise_for_status()
    return r


async def setup(client: httpx.AsyncClient, customers: int) -> tuple[list[dict[str, str]], str]:
    sec = json.loads(SECRETS.read_text())
    r = await post_patiently(client, "/api/users/login", {"email": sec["admin-email"],
                                                          "password": sec["admin-password"]})
    admin = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.post("/api/products", headers=admin, json={
        "name": f"Bench item {uuid.uuid4().hex[:6]}", "price": "9.99", "category": "bench",
        "description": "stock for the checkout benchmark", "stock": 1_000_000})
    r.raise_for_status()
    product = r.json()["id"]
    for _ in range(100):  # the stock reaches inventory asynchronously
        s = await client.get(f"/api/inventory/{product}")
        if s.status_code == 200 and s.json()["available"] > 0:
            break
        await asyncio.sleep(0.1)

    gate = asyncio.Semaphore(4)

    async def register(i: int) -> dict[str, str]:
        async with gate:
            r = await post_patiently(client, "/api/users/register", {
                "email": f"bench-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD,
                "name": f"Bench customer {i}"})
            return {"Authorization": f"Bearer {r.json()['token']}"}

    return list(await asyncio.gather(*(register(i) for i in range(customers)))), product


async def retire(client: httpx.AsyncClient, product: str) -> None:
    """Soft-delete the bench's product, so the shop's catalog does not keep it."""
    sec = json.loads(SECRETS.read_text())
    r = await post_patiently(client, "/api/users/login", {"email": sec["admin-email"],
                                                          "password": sec["admin-password"]})
    await client.delete(f"/api/products/{product}",
                        headers={"Authorization": f"Bearer {r.json()['token']}"})


async def place(http: aiohttp.ClientSession, headers: list[dict[str, str]], product: str,
                index: int) -> Placed:
    who = index % len(headers)
    p = Placed(customer=who, sent_at=time.time())
    try:
        async with http.post(f"{GATEWAY}/api/orders", headers={
                **headers[who], "Idempotency-Key": f"bench-{uuid.uuid4()}"}, json={
                "items": [{"product_id": product, "quantity": 1}],
                "shipping_address": ADDRESS}) as r:
            p.status = r.status
            if r.status == 201:
                p.order_id = (await r.json())["id"]
            else:
                p.error = (await r.text())[:200]
    except aiohttp.ClientError as exc:
        p.error = repr(exc)
    return p


async def settle(placed: list[Placed], timeout: float) -> None:
    """Wait until every order left `pending`; take its `processing` time from its history.

    Watched in the orders database (one query per round) rather than by polling the API,
    so that watching does not load the service being measured.
    """
    import asyncpg

    conn = await asyncpg.connect(json.loads(SECRETS.read_text())["orders-db-dsn"])
    try:
        deadline = time.monotonic() + timeout
        todo = {p.order_id: p for p in placed if p.order_id}
        while todo and time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT o.id::text AS id, o.status, h.at FROM orders o"
                " LEFT JOIN order_status_history h ON h.order_id = o.id"
                " AND h.status = 'processing' WHERE o.id = ANY($1::uuid[])"
                " AND o.status <> 'pending'", [uuid.UUID(i) for i in todo])
            for row in rows:
                p = todo.pop(row["id"])
                p.final_status = row["status"]
                p.processing_at = row["at"].timestamp() if row["at"] else None
            if todo:
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def burst(http: aiohttp.ClientSession, headers: list[dict[str, str]], product: str,
                n: int, concurrency: int) -> Run:
    run = Run(f"burst of {n} (<= {concurrency} in flight)")
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Placed:
        async with gate:
            return await place(http, headers, product, i)

    run.started = time.time()
    run.placed = list(await asyncio.gather(*(one(i) for i in range(n))))
    await settle(run.placed, timeout=120)
    done = [p.processing_at for p in run.placed if p.processing_at]
    run.finished = max(done) if done else time.time()
    return run


async def steady(http: aiohttp.ClientSession, headers: list[dict[str, str]], product: str,
                 rate: float, duration: float) -> Run:
    n = int(rate * duration)
    run = Run(f"steady {rate:g}/s for {duration:g}s")
    run.started = time.time()
    t0 = time.monotonic()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(place(http, headers, product, i)))
    run.placed = list(await asyncio.gather(*tasks))
    await settle(run.placed, timeout=120)
    done = [p.processing_at for p in run.placed if p.processing_at]
    run.finished = max(done) if done else time.time()
    return run


async def charges_per_order(order_ids: list[str]) -> Counter[str] | None:
    try:
        import asyncpg

        dsn = json.loads(SECRETS.read_text())["payments-db-dsn"]
        conn = await asyncpg.connect(dsn)
    except Exception as exc:
        print(f"(payments database not checked: {exc})", file=sys.stderr)
        return None
    try:
        rows = await conn.fetch("SELECT order_id::text AS id FROM charges"
                                " WHERE order_id = ANY($1::uuid[]) AND status = 'succeeded'",
                                [uuid.UUID(i) for i in order_ids])
    finally:
        await conn.close()
    return Counter(r["id"] for r in rows)


async def verify(client: httpx.AsyncClient, headers: list[dict[str, str]],
                 runs: list[Run]) -> list[str]:
    problems: list[str] = []
    placed = [p for r in runs for p in r.placed]
    failed = [p for p in placed if p.status != 201]
    if failed:
        problems.append(f"{len(failed)} POSTs did not answer 201, e.g. {failed[0].error}")
    ids = [p.order_id for p in placed if p.order_id]
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} duplicated order ids")
    not_processing = Counter(p.final_status for p in placed
                             if p.order_id and p.final_status != "processing")
    if not_processing:
        problems.append(f"orders not processing: {dict(not_processing)}")
    expected = Counter(p.customer for p in placed if p.order_id)
    for who, count in expected.items():
        r = await client.get("/api/orders", headers=headers[who], params={"page_size": 1})
        if r.status_code != 200 or r.json()["total"] != count:
            problems.append(f"customer {who} lists {r.json().get('total')} orders, placed "
                            f"{count}")
    charged = await charges_per_order([i for i in ids if i])
    if charged is not None:
        wrong = [i for i in ids if charged.get(i or "", 0) != 1]
        if wrong:
            problems.append(f"{len(wrong)} orders without exactly one succeeded charge")
    return problems


def table(runs: list[Run]) -> str:
    head = (f"{'run':<30} {'orders':>6} {'ok':>5} {'orders/s':>9} {'p50 ms':>8} {'p90 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8}")
    lines = [head, "-" * len(head)]
    for r in runs:
        lat = r.latencies_ms
        span = max(r.finished - r.started, 1e-9)
        lines.append(f"{r.name:<30} {len(r.placed):>6} {len(lat):>5} {len(lat) / span:>9.1f} "
                     f"{pct(lat, 50):>8.0f} {pct(lat, 90):>8.0f} {pct(lat, 99):>8.0f} "
                     f"{(max(lat) if lat else float('nan')):>8.0f}")
    return "\n".join(lines)


def _process_group(cmdline: list[str]) -> str | None:
    """Which part of the platform a process is, by its command line (None: not ours)."""
    cmd = " ".join(cmdline)
    if "-m services." in cmd:
        return cmd.split("-m services.", 1)[1].split()[0] + " app"
    if "daprd" in cmd and "--app-id" in cmdline:
        return cmdline[cmdline.index("--app-id") + 1] + " daprd"
    for name in ("postgres", "redis-server", "scheduler", "placement", "smtp_sink"):
        if name in (cmdline[0] if cmdline else "") or f"/{name}" in cmd or f"{name}.py" in cmd:
            return name
    if "bench_checkout" in cmd:
        return "this bench"
    return None


def _net_namespace(pid: int | str) -> str | None:
    try:
        return str(Path(f"/proc/{pid}/ns/net").readlink())
    except OSError:
        return None


def cpu_by_group() -> Counter[str]:
    """CPU seconds (user + system) used so far by each part of the platform on this machine.

    Only processes in the bench's own network namespace count: another stack started in its
    own namespace (`unshare -n`, as parallel test runs do) has processes of the same names.
    """
    import psutil  # type: ignore[import-untyped]

    ours = _net_namespace("self")
    seconds: Counter[str] = Counter()
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        if _net_namespace(proc.pid) != ours:
            continue
        group = _process_group(proc.info["cmdline"] or [])
        times = proc.info["cpu_times"]
        if group and times is not None:
            seconds[group] += times.user + times.system
    return seconds


async def until_quiet(limit_cores: float = 0.15, step: float = 1.0,
                      timeout: float = 60.0) -> None:
    """Wait until the platform's asynchronous backlog (e-mails, read models) is done: its
    processes together use less than `limit_cores` over one `step`."""
    deadline = time.monotonic() + timeout
    before = sum(cpu_by_group().values())
    while time.monotonic() < deadline:
        await asyncio.sleep(step)
        now = sum(cpu_by_group().values())
        if now - before < limit_cores * step:
            return
        before = now


def cpu_table(before: Counter[str], after: Counter[str], orders: int) -> str:
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    rows = [f"{1000 * v / orders:7.1f} ms  {k}"
            for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0]
    total = 1000 * sum(v for v in used.values() if v > 0) / orders
    return "\n".join([f"CPU per checkout in the burst ({orders} orders, until the platform"
                      " was quiet again):", *rows, f"{total:7.1f} ms  in all"])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=200, help="orders in the burst run")
    parser.add_argument("--concurrency", type=int, default=50, help="POSTs in flight (burst)")
    parser.add_argument("--rate", type=float, default=20.0, help="orders/s (steady run)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds (steady run)")
    parser.add_argument("--customers", type=int, default=20, help="customers to register")
    parser.add_argument("--pause", type=float, default=10.0,
                        help="seconds between the burst and the steady run")
    parser.add_argument("--cpu", action="store_true",
                        help="also print the CPU each part of the platform used per checkout"
                             " in the burst (processes on this machine, from /proc)")
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    # The POSTs being measured go through aiohttp: the bench shares the machine with the
    # platform, and httpx spent about four times the CPU per request.
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=60, limits=limits) as client, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200),
                                  timeout=aiohttp.ClientTimeout(total=60)) as http:
        headers, product = await setup(client, args.customers)
        # A short warm-up so connection set-up and first-call costs stay out of the figures.
        warmup = await burst(http, headers, product, 10, 10)
        if args.cpu:
            await until_quiet()
            cpu_before = cpu_by_group()
        runs = [await burst(http, headers, product, args.burst, args.concurrency)]
        cpu_report = ""
        if args.cpu:
            await until_quiet()
            cpu_report = cpu_table(cpu_before, cpu_by_group(), args.burst)
        # The burst leaves asynchronous work behind (its e-mails, stock read-model updates);
        # the steady run measures the steady state, not that backlog.
        await asyncio.sleep(args.pause)
        runs.append(await steady(http, headers, product, args.rate, args.duration))
        print(table(runs))
        if cpu_report:
            print(cpu_report)
        problems = await verify(client, headers, [warmup, *runs])
        await retire(client, product)
    placed = sum(len(r.placed) for r in runs) + len(warmup.placed)
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print(f"OK: {placed} orders, none lost or duplicated, each charged exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
