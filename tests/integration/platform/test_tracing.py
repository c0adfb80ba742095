"""One checkout can be followed by its trace id: from the gateway through the workflow's
activities (inventory, payments) to the e-mail its event causes."""

from __future__ import annotations

import asyncio
import secrets as random
import time

import httpx

from tests.conftest import Customer, stack
from tests.shop import ORDERS, create_product, order_body, wait_order


def _apps_logging(trace_id: str) -> set[str]:
    return {path.stem for path in stack.LOGS.glob("*.log")
            if not path.stem.endswith("-dapr") and trace_id in path.read_text(errors="replace")}


async def test_a_checkout_keeps_one_trace_through_the_workflow_and_its_events(
        gateway: httpx.AsyncClient, admin_headers: dict[str, str], customer: Customer) -> None:
    product = await create_product(gateway, admin_headers, price="4.00", stock=3)
    trace_id = random.token_hex(16)
    r = await gateway.post(ORDERS, json=order_body((product, 1)), headers={
        **customer.headers, "traceparent": f"00-{trace_id}-{random.token_hex(8)}-01"})
    assert r.status_code == 201, r.text
    await wait_order(gateway, customer.headers, r.json()["id"], {"processing"})

    wanted = {"gateway", "orders", "products", "inventory", "payments", "notifications"}
    deadline = time.monotonic() + 15
    seen: set[str] = set()
    while time.monotonic() < deadline and not wanted <= seen:
        seen = await asyncio.to_thread(_apps_logging, trace_id)
        await asyncio.sleep(0.3)
    # inventory and payments are called by workflow activities, notifications by the
    # order.confirmed event an activity publishes: all after the POST has answered.
    assert wanted <= seen, f"the trace reached only {sorted(seen)}"
