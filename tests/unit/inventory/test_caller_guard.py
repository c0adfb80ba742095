"""The guard on /internal routes (services/common/internal.py), on a real Litestar app."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, post
from litestar.testing import TestClient

from services.common.errors import EXCEPTION_HANDLERS
from services.common.internal import CODED_ERROR_HANDLERS, CodedError, require_caller


@post("/internal/thing", status_code=200, guards=[require_caller("orders", "products")],
      sync_to_thread=False)
def thing() -> dict[str, str]:
    return {"ok": "yes"}


@post("/internal/conflict", guards=[require_caller("orders")], sync_to_thread=False,
      exception_handlers=CODED_ERROR_HANDLERS)
def conflict() -> None:
    raise CodedError(409, "out_of_stock", "none left", unavailable=["a"])


def client() -> TestClient[Litestar]:
    return TestClient(Litestar([thing, conflict], exception_handlers=EXCEPTION_HANDLERS))


@pytest.mark.parametrize("caller", ["orders", "products"])
def test_named_callers_pass(caller: str) -> None:
    with client() as c:
        r = c.post("/internal/thing", headers={"dapr-caller-app-id": caller})
    assert r.status_code == 200 and r.json() == {"ok": "yes"}


@pytest.mark.parametrize("headers", [
    {}, {"dapr-caller-app-id": "gateway"}, {"dapr-caller-app-id": ""},
    {"dapr-caller-app-id": "orders,gateway"}, {"dapr-caller-app-id": "ORDERS"},
])
def test_anyone_else_is_refused_with_a_403_problem(headers: dict[str, str]) -> None:
    with client() as c:
        r = c.post("/internal/thing", headers=headers)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "orders, products" in r.json()["detail"]


def test_a_forged_second_value_does_not_hide_the_real_caller() -> None:
    """daprd adds the real caller's id and passes a client-sent one along as well."""
    with client() as c:
        r = c.post("/internal/thing", headers=[("dapr-caller-app-id", "gateway"),
                                               ("dapr-caller-app-id", "orders")])
    assert r.status_code == 403


def test_coded_errors_carry_code_and_extensions() -> None:
    with client() as c:
        r = c.post("/internal/conflict", headers={"dapr-caller-app-id": "orders"})
    body: dict[str, Any] = r.json()
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body == {"type": "about:blank", "title": "Conflict", "status": 409,
                    "detail": "none left", "instance": "/internal/conflict",
                    "code": "out_of_stock", "unavailable": ["a"]}


def test_a_guard_needs_at_least_one_app() -> None:
    with pytest.raises(ValueError, match="at least one"):
        require_caller()
