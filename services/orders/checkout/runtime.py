"""The workflow runtime of the orders app: registration, start and stop (lifespan hooks).

The runtime connects to this app's sidecar over gRPC (DAPR_GRPC_PORT) and runs the
orchestrator and the activities in background threads (activities.py says on which event
loop). Start-up also opens the client the HTTP use cases use and starts the reconciler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dapr.ext.workflow as wf
from litestar import Litestar

from services.common import db
from services.common.names import SECRETSTORE
from services.common.settings import Settings
from services.orders.checkout import activities, client, reconciler
from services.orders.checkout.workflow import WORKFLOW_NAME, order_workflow

# Orchestrator turns run on the SDK's thread pool, and each finished activity or turn is
# sent back to the sidecar by a blocking gRPC call from the same pool; the default
# (cpu_count + 4) is small for many concurrent checkouts.
WORKER_THREADS = 16


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object per registration (the SDK marks the functions it registers,
    and a test may build more than one runtime in a process)."""
    def run(ctx: Any, payload: Any) -> Any:
        return fn(ctx, payload)

    run.__name__ = fn.__name__
    return run


def build_runtime(settings: Settings) -> wf.WorkflowRuntime:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(settings.dapr_grpc_port),
                                 logger_options=client.sdk_logger_options(),
                                 maximum_thread_pool_workers=WORKER_THREADS)
    client.quiet_sdk_logs()
    runtime.register_workflow(_fresh(order_workflow), name=WORKFLOW_NAME)
    for activity in activities.registered():
        runtime.register_activity(activity, name=activity.__name__)
    return runtime


async def start(app: Litestar) -> None:
    settings: Settings = app.state.settings
    # The activities run on the runtime's own event loop, so they need a pool of their own.
    dsn = await app.state.sidecar.get_secret(SECRETSTORE, db.dsn_secret(settings.app_id))
    resources = activities.Resources(settings, dsn)
    activities.configure(resources)
    app.state.activity_resources = resources
    runtime = build_runtime(settings)
    await asyncio.to_thread(runtime.start)
    app.state.workflow_runtime = runtime
    app.state.workflow_client = client.connect(settings)
    app.state.reconciler = asyncio.create_task(
        reconciler.reconcile_forever(app.state.db, app.state.workflow_client,
                                     datetime.now(UTC)),
        name="orders-reconciler")


async def stop(app: Litestar) -> None:
    task = app.state.get("reconciler")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    runtime = app.state.get("workflow_runtime")
    if runtime is not None:
        await asyncio.to_thread(runtime.shutdown)
    resources = app.state.get("activity_resources")
    if resources is not None:
        resources.close()
        activities.configure(None)
