"""Shared fixtures. The platform is started once per test session, for real: PostgreSQL,
Redis, the SMTP sink, Dapr placement/scheduler and every app with its daprd.

Set ECOMMERCE_REUSE_STACK=1 to run against a stack already started with
`scripts/stack.py up --detach` (it is then left running).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402  (scripts/stack.py)

T = TypeVar("T")

STACK_DIRS = ("integration", "e2e", "security", "reliability", "contract")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "runs_last: runs after every other test of the session (the log audit "
        "reads what the whole run wrote)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)
    for item in items:
        if any(f"/tests/{d}/" in str(item.path) for d in STACK_DIRS):
            item.add_marker(pytest.mark.stack)
            item.fixturenames.insert(0, "platform")


def _shared_stack_running(wait: float = 30.0) -> bool:
    """Whether a shared stack is running. While a teammate restarts one service, /health
    is 503 (or the gateway is silent) for a few seconds: wait for it rather than restart
    everyone's stack. After `wait`, a gateway that answers at all counts as running."""
    deadline = time.monotonic() + wait
    while True:
        code = stack.http_get(f"{stack.GATEWAY_URL}/health", timeout=10)[0]
        if code == 200:
            return True
        if time.monotonic() > deadline:
            return code != 0
        time.sleep(0.5)


@pytest.fixture(scope="session")
def platform() -> Iterator[dict[str, str]]:
    """The running platform; yields the generated secrets."""
    reuse = os.environ.get("ECOMMERCE_REUSE_STACK") == "1"
    if reuse and _shared_stack_running():
        sec = json.loads(stack.SECRETS_FILE.read_text())
        yield sec
        tidy_catalog(sec)
        return
    try:
        sec = stack.up()  # a failed start stops what it started
    except stack.StackError as exc:
        pytest.exit(f"the platform did not start:\n{exc}", returncode=1)
    stack.seed()
    try:
        yield sec
        tidy_catalog(sec)
    finally:
        if not reuse:
            stack.down()


# Products that tests make for orders are in this category; the shop a developer starts
# after a test run shows the demo catalog, not them.
TEST_CATEGORIES = ("test", "bench")


def tidy_catalog(sec: dict[str, str]) -> None:
    """Soft-delete the products tests made (order history can still read them by id)."""
    with httpx.Client(base_url=stack.GATEWAY_URL, timeout=30) as c:
        r = c.post("/api/users/login", json={"email": sec["admin-email"],
                                             "password": sec["admin-password"]})
        if r.status_code != 200:
            return
        admin = {"Authorization": f"Bearer {r.json()['token']}"}
        for category in TEST_CATEGORIES:
            for _ in range(100):  # bounded: 100 pages of 100
                items = c.get("/api/products", params={"category": category,
                                                       "page_size": 100}).json()["items"]
                if not items:
                    break
                for item in items:
                    c.delete(f"/api/products/{item['id']}", headers=admin)


@pytest.fixture(scope="session")
def secrets(platform: dict[str, str]) -> dict[str, str]:
    return platform


@pytest.fixture(scope="session")
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    """An API client shared by the session. It keeps no cookies: a page of the shop (any path
    outside /api) sets a session cookie, and a request with a cookie bypasses the gateway's
    edge cache, which would change what later tests see."""
    async with httpx.AsyncClient(base_url=stack.GATEWAY_URL, timeout=30) as client:
        async def forget_cookies(_: httpx.Response) -> None:
            client.cookies.clear()
        client.event_hooks["response"].append(forget_cookies)
        yield client


def sidecar_url(app_id: str) -> str:
    return f"http://127.0.0.1:{stack.app_by_id(app_id).dapr_http}"


def invoker(caller: str, callee: str, dapr_headers: dict[str, str]) -> httpx.AsyncClient:
    """A client that calls `callee`'s routes the way the `caller` app does: through the
    caller's sidecar (so daprd sets dapr-caller-app-id)."""
    return httpx.AsyncClient(base_url=f"{sidecar_url(caller)}/v1.0/invoke/{callee}/method",
                             headers=dapr_headers, timeout=30,
                             limits=httpx.Limits(max_connections=100))


@pytest.fixture(scope="session")
def dapr_headers(secrets: dict[str, str]) -> dict[str, str]:
    """Headers a caller of a daprd HTTP API needs (DAPR_API_TOKEN)."""
    return {"dapr-api-token": secrets["dapr-api-token"]}


class Customer:
    """A registered customer and the headers that authenticate as them."""

    def __init__(self, user: dict[str, Any], token: str, refresh_token: str | None) -> None:
        self.user = user
        self.id: str = user["id"]
        self.email: str = user["email"]
        self.token = token
        self.refresh_token = refresh_token
        self.headers = {"Authorization": f"Bearer {token}"}


async def register_customer(gateway: httpx.AsyncClient, name: str = "Test Customer") -> Customer:
    password = "correct horse battery staple"
    r = await gateway.post("/api/users/register",
                           json={"email": unique_email(), "password": password, "name": name})
    assert r.status_code == 201, r.text
    body = r.json()
    return Customer(body["user"], body["token"], body.get("refresh_token"))


@pytest.fixture
async def customer(gateway: httpx.AsyncClient) -> Customer:
    """A fresh customer per test."""
    return await register_customer(gateway)


@pytest.fixture(scope="session")
async def admin_headers(gateway: httpx.AsyncClient, secrets: dict[str, str]) -> dict[str, str]:
    """Authorization headers of the admin created at start-up from the secret store."""
    r = await gateway.post("/api/users/login", json={"email": secrets["admin-email"],
                                                     "password": secrets["admin-password"]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0,
                     what: str = "condition") -> T:
    """Poll `check` until it gives something other than None or False, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def database(service: str, scope: str = "module") -> Any:
    """A fixture: a small asyncpg pool on a service's own database, to check its rows."""
    @pytest.fixture(scope=scope)  # type: ignore[misc]
    async def pool(secrets: dict[str, str]) -> AsyncIterator[Any]:
        import asyncpg

        db = await asyncpg.create_pool(secrets[f"{service}-db-dsn"], min_size=1, max_size=2)
        yield db
        await db.close()
    return pool


async def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` at a Prometheus endpoint whose labels include
    `labels` (0 when there are none yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v
                                              for k, v in labels.items()))


async def wait_for_line(path: Path, needle: str, timeout: float = 5.0) -> str:
    """The last-2000-lines match of `needle` in a log file, waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(path.read_text, errors="replace")
        for line in text.splitlines()[-2000:]:
            if needle in line:
                return line
        await asyncio.sleep(0.2)
    raise AssertionError(f"no line with {needle!r} in {path}")


def is_problem(r: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """Assert that a response is problem+json (with `status`, if given) and return its body."""
    assert r.headers.get("content-type", "").startswith("application/problem+json"), (
        r.status_code, r.headers.get("content-type"), r.text[:300])
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code
    if status is not None:
        assert r.status_code == status, (r.status_code, body)
    return body
