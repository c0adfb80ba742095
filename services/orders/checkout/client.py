"""Talking to order workflows from the app: schedule one, raise an event into one.

Through the SDK's async workflow client (`dapr.ext.workflow.aio`), which speaks gRPC to the
app's sidecar; every call is cut off after WORKFLOW_CALL_TIMEOUT_S so a sidecar that is
restarting cannot hold a request or the reconciler.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

import structlog
from dapr.ext.workflow.logger.options import LoggerOptions

from services.common import telemetry
from services.common.settings import Settings
from services.orders.checkout.payloads import CheckoutInput, StatusRequest, encode
from services.orders.checkout.workflow import EVENT_NAME_FOR_REQUEST, WORKFLOW_NAME

log = structlog.get_logger(__name__)

WORKFLOW_CALL_TIMEOUT_S = 10.0
SDK_LOGGERS = ("durabletask-worker", "durabletask-client", "WorkflowRuntime",
               "DaprWorkflowClient")


class WorkflowClient(Protocol):
    """The part of dapr.ext.workflow.aio.DaprWorkflowClient the orders service uses."""

    async def schedule_new_workflow(self, workflow: str, *, input: Any = None,
                                    instance_id: str | None = None) -> str: ...

    async def get_workflow_state(self, instance_id: str, *,
                                 fetch_payloads: bool = True) -> Any: ...

    async def raise_workflow_event(self, instance_id: str, event_name: str, *,
                                   data: Any = None) -> None: ...

    async def terminate_workflow(self, instance_id: str) -> None: ...

    async def purge_workflow(self, instance_id: str) -> None: ...


def quiet_sdk_logs() -> None:
    """The SDK logs every orchestration step at INFO through its own plain-text handler;
    keep warnings only, through the app's JSON handler on the root logger."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
        logger.setLevel(logging.WARNING)


def sdk_logger_options() -> LoggerOptions:
    return LoggerOptions(log_level="WARNING", log_handler=logging.NullHandler())


def connect(settings: Settings) -> WorkflowClient:
    """The async workflow client on this app's sidecar (DAPR_GRPC_PORT)."""
    from dapr.ext.workflow.aio import DaprWorkflowClient

    workflows = DaprWorkflowClient(host="127.0.0.1", port=str(settings.dapr_grpc_port),
                                   logger_options=sdk_logger_options())
    quiet_sdk_logs()
    return workflows


async def call(awaitable: Any) -> Any:
    """One workflow call, cut off after WORKFLOW_CALL_TIMEOUT_S."""
    return await asyncio.wait_for(awaitable, WORKFLOW_CALL_TIMEOUT_S)


async def schedule(workflows: WorkflowClient, order_id: uuid.UUID) -> bool:
    """Start the order's workflow; on failure the reconciler starts it later."""
    start = CheckoutInput(order_id=order_id, trace=telemetry.outgoing_headers())
    try:
        await call(workflows.schedule_new_workflow(WORKFLOW_NAME, input=encode(start),
                                                   instance_id=str(order_id)))
    except Exception as exc:
        log.warning("workflow_schedule_failed", order_id=str(order_id), error=repr(exc))
        return False
    return True


async def request_status(workflows: WorkflowClient, order_id: uuid.UUID, target: str,
                         request: StatusRequest) -> None:
    """Raise the event that asks the workflow for `target` (cancelled, shipped, delivered)."""
    await call(workflows.raise_workflow_event(str(order_id), EVENT_NAME_FOR_REQUEST[target],
                                              data=encode(request)))
