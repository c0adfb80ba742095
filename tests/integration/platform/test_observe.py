"""`scripts/run.sh --observe` on the real stack: Prometheus (Debian's package), started by the
same function as `stack.py up --observe` with the project's scrape configuration, sees every
app, every sidecar, placement and scheduler up, through its own HTTP API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import stack


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """The stack's Prometheus if `up --observe` started one; else one for this module."""
    if stack.port_open(stack.PROMETHEUS_PORT):
        yield stack.PROMETHEUS_URL
        return
    proc = stack.start_prometheus(stack.load_apps()[1])
    try:
        yield stack.PROMETHEUS_URL
    finally:
        proc.stop()


async def test_every_target_is_up(prometheus: str) -> None:
    _, apps = stack.load_apps()
    want = ({f"127.0.0.1:{a.scrape_port}" for a in apps}
            | {f"127.0.0.1:{a.metrics}" for a in apps}
            | {f"127.0.0.1:{stack.PLACEMENT_METRICS_PORT}",
               f"127.0.0.1:{stack.SCHEDULER_METRICS_PORT}"})
    health: dict[str, str] = {}
    deadline = time.monotonic() + 45  # the first scrape of each target within one interval
    async with httpx.AsyncClient(base_url=prometheus, timeout=10) as c:
        while time.monotonic() < deadline:
            r = await c.get("/api/v1/targets", params={"state": "active"})
            assert r.status_code == 200, r.text
            active = r.json()["data"]["activeTargets"]
            health = {t["labels"]["instance"]: t["health"] for t in active}
            if set(health) == want and set(health.values()) == {"up"}:
                break
            await asyncio.sleep(1)
        assert set(health) == want
        assert {t: h for t, h in health.items() if h != "up"} == {}
        # The samples are the platform's: each app's request counter, each sidecar's runtime.
        for query, count in (("count(up{job='ecommerce-apps'} == 1)", len(apps)),
                             ("count(count by (app_id) (dapr_runtime_component_loaded))",
                              len(apps))):
            deadline = time.monotonic() + 15
            value = None
            while time.monotonic() < deadline:
                r = await c.get("/api/v1/query", params={"query": query})
                result = r.json()["data"]["result"]
                value = int(result[0]["value"][1]) if result else None
                if value == count:
                    break
                await asyncio.sleep(1)
            assert value == count, query
