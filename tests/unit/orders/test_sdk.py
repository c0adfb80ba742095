"""The private parts of the workflow SDK the orders service relies on, all imported through
services/orders/checkout/sdk.py. An SDK upgrade that moves or changes one fails here first,
with a message that says where to look, instead of in a checkout."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from services.orders.checkout import sdk

CHECKED_WITH = "1.18.3"


def test_the_sdk_is_the_version_the_wrapper_was_checked_against() -> None:
    assert version("dapr-ext-workflow") == CHECKED_WITH, (
        "dapr-ext-workflow changed: check every name in services/orders/checkout/sdk.py "
        "against the new release, then update CHECKED_WITH")


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
