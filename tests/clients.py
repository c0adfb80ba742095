"""Distinct clients on one machine, without trusting any header.

The gateway believes X-Forwarded-For from no one in the local stack, so a test that needs
a client of its own connects from an address of its own: any 127.x.y.z is this machine's,
and a socket bound to it reaches the gateway on 127.0.0.1 with that peer address.
"""

from __future__ import annotations

import secrets

import httpx

from tests.conftest import stack


def new_address() -> str:
    """A loopback address no other test uses (127.0.0.1 is the rest of the suite's)."""
    return f"127.{secrets.randbelow(250) + 3}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def client_from(address: str | None = None, *, base_url: str = stack.GATEWAY_URL,
                **kwargs: object) -> httpx.AsyncClient:
    """A gateway client whose connections come from `address` (a fresh one by default)."""
    transport = httpx.AsyncHTTPTransport(local_address=address or new_address())
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30,
                             **kwargs)  # type: ignore[arg-type]
