"""The private parts of the Dapr SDK the services rely on, all imported through
services/common/dapr_sdk.py. An SDK upgrade that moves or changes one fails here first,
with a message that says where to look, instead of in a checkout or a catalog write."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

from services.common import dapr_sdk as sdk

CHECKED_WITH = "1.18.3"


@pytest.mark.parametrize("package", ["dapr", "dapr-ext-workflow"])
def test_the_sdk_is_the_version_the_wrapper_was_checked_against(package: str) -> None:
    assert version(package) == CHECKED_WITH, (
        f"{package} changed: check every name in services/common/dapr_sdk.py against the "
        "new release, then update CHECKED_WITH")


def test_non_retryable_error_is_the_class_the_sdk_recognises_by_name() -> None:
    # The runtime skips the retry policy for a failure whose error type is this class name.
    assert issubclass(sdk.NonRetryableError, Exception)
    assert sdk.NonRetryableError.__name__ == "NonRetryableError"
    failed = sdk.history.new_task_failed_event(1, sdk.NonRetryableError("gone"))
    assert failed.taskFailed.failureDetails.errorType == "NonRetryableError"


def test_the_replay_harness_parts_have_the_shapes_the_tests_use() -> None:
    assert callable(sdk.Registry().add_named_orchestrator)
    params = list(inspect.signature(sdk.OrchestrationExecutor).parameters)
    assert params[:2] == ["registry", "logger"], params
    assert list(inspect.signature(sdk.OrchestrationExecutor.execute).parameters)[1:4] == [
        "instance_id", "old_events", "new_events"]
    for builder in ("new_workflow_started_event", "new_execution_started_event",
                    "new_task_scheduled_event", "new_task_completed_event",
                    "new_task_failed_event", "new_timer_created_event",
                    "new_event_raised_event"):
        assert callable(getattr(sdk.history, builder)), builder
    assert callable(sdk.new_timer_fired_event) and callable(sdk.fire_at_is_sentinel)


def test_state_transaction_operations_build_what_the_cache_sends() -> None:
    upsert = sdk.TransactionalStateOperation(key="catalog:version", data="v1")
    delete = sdk.TransactionalStateOperation(
        key="product:1", operation_type=sdk.TransactionOperationType.delete)
    assert (upsert.key, upsert.data, upsert.operation_type) == (
        "catalog:version", "v1", sdk.TransactionOperationType.upsert)
    assert delete.operation_type.value == "delete"
