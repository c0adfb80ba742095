"""The audit trail's plumbing: one trigger function in every audited service, the actor
taken from the gateway's identity headers, and the pool setup that binds it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.common import audit
from services.common.auth import Identity

ROOT = Path(__file__).resolve().parents[3]
AUDITED = ("products", "users", "inventory", "orders", "notifications")


@pytest.mark.parametrize("service", AUDITED)
def test_every_audited_service_gets_the_one_table_and_function_and_adds_its_triggers(
        service: str) -> None:
    shared = audit.MIGRATION.read_text()
    assert "CREATE TABLE IF NOT EXISTS audit_log" in shared
    assert "CREATE OR REPLACE FUNCTION audit_row()" in shared
    own = "".join(f.read_text() for f in
                  sorted((ROOT / "services" / service / "migrations").glob("*.sql")))
    assert "EXECUTE FUNCTION audit_row(" in own, f"{service} creates no audit trigger"
    # One definition: a copy in a service's migration would drift from it.
    assert "FUNCTION audit_row()" not in own and "TABLE audit_log" not in own
    app = (ROOT / "services" / service / "app.py").read_text()
    assert "shared_migrations=(audit.MIGRATION,)" in app, f"{service} never creates the table"


def test_only_admins_are_actors() -> None:
    admin = Identity(user_id=uuid.uuid4(), role="admin", email="boss@example.com")
    assert audit.actor_of(admin) == (str(admin.user_id), "boss@example.com")
    assert audit.actor_of(Identity(user_id=uuid.uuid4(), role="customer")) is None
    assert audit.actor_of(None) is None


class FakeConn:
    """Counts the statements the pool setup sends (the real SQL runs in the integration
    tests against PostgreSQL)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def execute(self, sql: str, *args: Any) -> None:
        self.sent.append(args)


def test_the_middleware_scopes_the_actor_to_the_request_and_setup_binds_it_once() -> None:
    user_id = uuid.uuid4()
    seen: list[audit.Actor | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(audit.current_actor())

    async def run() -> FakeConn:
        middleware = audit.ActorMiddleware(app)
        headers = [(b"x-user-id", str(user_id).encode()), (b"x-user-role", b"admin"),
                   (b"x-user-email", b"boss@example.com")]
        await middleware({"type": "http", "headers": headers}, None, None)  # type: ignore[arg-type]
        await middleware({"type": "http", "headers": [(b"x-user-id", str(user_id).encode()),
                                                      (b"x-user-role", b"customer")]},
                         None, None)  # type: ignore[arg-type]
        assert audit.current_actor() is None
        conn = FakeConn()
        await audit.bind_actor(conn)  # a new connection: reset once
        await audit.bind_actor(conn)  # unchanged: no round trip
        token = audit._actor.set((str(user_id), "boss@example.com"))
        await audit.bind_actor(conn)
        await audit.bind_actor(conn)
        audit._actor.reset(token)
        await audit.bind_actor(conn)  # back to nobody
        return conn

    conn = asyncio.run(run())
    assert seen == [(str(user_id), "boss@example.com"), None]
    assert conn.sent == [("", ""), (str(user_id), "boss@example.com"), ("", "")]
