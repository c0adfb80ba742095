"""asyncpg pool and the SQL migration runner every service uses at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg
import structlog

from services.common import audit

log = structlog.get_logger(__name__)

# Any constant works; it only has to be the same for every replica of every service.
_MIGRATION_LOCK = 7_431_002


async def _release_as_is(conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: asyncpg still rolls back a transaction
    left open (and clears listeners) before calling this; what is skipped is its reset
    query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL), a round trip on every release
    for session state this code never leaves behind: no SET, no
    LISTEN, no cursors, and the two session advisory locks (migrate, the orders reconciler)
    are released in their own finally blocks. The one setting left behind, the audit actor,
    is set afresh by `audit.bind_actor` on the next acquire."""


def dsn_secret(app_id: str) -> str:
    """The secret-store key holding the DSN of `app_id`'s database."""
    return f"{app_id}-db-dsn"


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=30,
        server_settings={"application_name": "ecommerce"}, reset=_release_as_is,
        setup=audit.bind_actor,  # who an admin request's writes are recorded as
    )
    return pool


async def migrate(pool: asyncpg.Pool, directory: Path, shared: Sequence[Path] = ()) -> list[str]:
    """Apply `shared` files (schema several services have, e.g. the audit trail's, recorded
    as `common/<name>`), then the service's `NNNN_name.sql` files in order, each once, under
    an advisory lock.

    Replicas starting together serialise on the lock; each file runs in its own transaction
    together with its row in schema_migrations, so a failed file leaves no trace.
    """
    own = sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())  # noqa: ASYNC240 (start-up only)
    files = [(f"common/{p.stem}", p) for p in shared] + [(p.stem, p) for p in own]
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, path in files:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations(version) VALUES ($1)",
                                       version)
                applied_now.append(version)
                log.info("migration_applied", version=version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
