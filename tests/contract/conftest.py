"""Fixtures of the contract tests."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import register_customer


@pytest.fixture(scope="session")
async def customer_headers(gateway: httpx.AsyncClient) -> dict[str, str]:
    """A customer shared by the schema-driven cases that must not run as the admin."""
    return (await register_customer(gateway, "Contract Fuzzer")).headers
