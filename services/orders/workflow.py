"""The order workflow runtime (Dapr Workflow through dapr-ext-workflow).

Workflows are deterministic generators; every side effect is an activity. The runtime
connects to this app's sidecar over gRPC (DAPR_GRPC_PORT) and runs in a background thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dapr.ext.workflow as wf
from litestar import Litestar

from services.common.settings import Settings



def ping_workflow(ctx: wf.DaprWorkflowContext, payload: dict[str, Any]) -> Any:
    """A trivial workflow: one activity round trip. Used to check the workflow engine."""
    answer = yield ctx.call_activity(ping_activity, input=payload)
    return answer


def ping_activity(ctx: wf.WorkflowActivityContext, payload: dict[str, Any]) -> dict[str, Any]:
    return {"pong": payload.get("ping"), "instance": ctx.workflow_id}


def build_runtime(settings: Settings) -> wf.WorkflowRuntime:
    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(settings.dapr_grpc_port))
    runtime.register_workflow(ping_workflow, name="ping")
    runtime.register_activity(ping_activity, name="ping_activity")
    return runtime


def client(settings: Settings) -> Any:
    from dapr.ext.workflow.aio import DaprWorkflowClient

    return DaprWorkflowClient(host="127.0.0.1", port=str(settings.dapr_grpc_port))


async def start(app: Litestar) -> None:
    settings: Settings = app.state.settings
    runtime = build_runtime(settings)
    await asyncio.to_thread(runtime.start)
    app.state.workflow_runtime = runtime
    app.state.workflow_client = client(settings)


async def stop(app: Litestar) -> None:
    runtime = app.state.get("workflow_runtime")
    if runtime is not None:
        await asyncio.to_thread(runtime.shutdown)
