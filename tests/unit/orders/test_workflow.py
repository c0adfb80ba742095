"""The order orchestrator, run by the SDK's own orchestration executor against histories.

Each step replays the whole history through `order_workflow` exactly as the Dapr runtime
does, so a non-deterministic orchestrator fails here with NonDeterminismError. Activity
outcomes and external events are scripted; the real activities are exercised by the
integration tests on the stack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from dapr.ext.workflow import DaprWorkflowContext

from services.common.dapr_sdk import (
    NonRetryableError,
    OrchestrationExecutor,
    Registry,
    fire_at_is_sentinel,
    new_timer_fired_event,
)
from services.common.dapr_sdk import history as helpers
from services.orders.checkout import reconciler, workflow

ORDER_ID = "6d3f3a3c-7f0b-4a43-9bd4-1df0b2d3b001"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

Outcome = Callable[[dict[str, Any]], Any]


class Boom(Exception):
    pass


class OldCode(DaprWorkflowContext):
    """The orchestrator as the code of before its patches ran it: every patch off."""

    def is_patched(self, patch_name: str) -> bool:
        return False


class Sim:
    """A tiny Dapr backend: records history, runs scripted activities, fires short timers."""

    def __init__(self, outcomes: dict[str, Outcome | list[Outcome]],
                 events: list[tuple[str, dict[str, Any]]] | None = None,
                 raise_with: dict[str, list[tuple[str, dict[str, Any]]]] | None = None,
                 fire_long_timers: bool = False, recorded_before_patch: int = 0) -> None:
        registry = Registry()
        registry.add_named_orchestrator(
            "order", lambda ctx, inp: workflow.order_workflow(
                (OldCode if self.old_code else DaprWorkflowContext)(ctx), inp))
        self.executor = OrchestrationExecutor(registry, logging.getLogger("sim"))
        self.outcomes = outcomes
        self.idle_events = list(events or [])
        self.raise_with = raise_with or {}
        self.fire_long_timers = fire_long_timers
        # The history of the first turns is what the code of before the patches stored, as
        # for an order in flight across an upgrade: those turns run with every patch off
        # (OldCode), so the separate steps, no patch name recorded and no `confirm_order` in
        # the charge's input. The SDK's own replay does the rest.
        self.recorded_before_patch = recorded_before_patch
        self.old_code = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[tuple[str, str | None]] = []
        self.custom_statuses: list[str | None] = []  # as the runtime stores it, per turn
        self.now = T0

    def _run_activity(self, name: str, payload: dict[str, Any]) -> Any:
        self.calls.append((name, payload))
        outcome = self.outcomes.get(name, lambda p: None)
        if isinstance(outcome, list):
            outcome = outcome.pop(0) if len(outcome) > 1 else outcome[0]
        value = outcome(payload)
        if name == "set_status":
            self.changes.append((payload["to"], payload.get("reason")))
        elif name == "charge_payment" and payload.get("confirm_order"):
            value = self._confirming(value)
        elif name == "place_order" and value.get("charge"):
            value = {**value, "charge": self._confirming(value["charge"])}
        return value

    def _confirming(self, charge: dict[str, Any]) -> dict[str, Any]:
        """A charge that confirms the order marks it processing once paid and held."""
        confirmed = charge.get("hold") == "confirmed"
        if confirmed and ("processing", None) not in self.changes:
            self.changes.append(("processing", None))
        return {**charge, "order_status": "processing" if confirmed else None}

    def run(self, max_steps: int = 500) -> dict[str, Any]:
        history: list[Any] = []
        new = [helpers.new_workflow_started_event(self.now),
               helpers.new_execution_started_event("order", ORDER_ID,
                                                   json.dumps({"order_id": ORDER_ID}))]
        for turn in range(max_steps):
            self.old_code = turn < self.recorded_before_patch
            result = self.executor.execute(ORDER_ID, history, new)
            self.custom_statuses.append(result.encoded_custom_status)
            before_patch = turn < self.recorded_before_patch
            if result.patches and not before_patch:  # recorded on the turn's WorkflowStarted
                new[0].workflowStarted.version.patches.extend(result.patches)
            history += new
            self.now += timedelta(milliseconds=10)
            new = [helpers.new_workflow_started_event(self.now)]
            waiting_timers = []
            for action in result.actions:
                kind = action.WhichOneof("workflowActionType")
                if kind == "completeWorkflow":
                    out = action.completeWorkflow
                    assert out.workflowStatus == 1, out.failureDetails  # COMPLETED
                    return json.loads(out.result.value) if out.result.value else {}
                if kind == "scheduleTask":
                    task = action.scheduleTask
                    payload = json.loads(task.input.value)
                    if before_patch:
                        payload.pop("confirm_order", None)
                    history.append(helpers.new_task_scheduled_event(action.id, task.name,
                                                                    json.dumps(payload)))
                    # An event raised while the activity runs reaches the history before
                    # the activity's result does.
                    for name, data in self.raise_with.pop(task.name, []):
                        new.append(helpers.new_event_raised_event(name, json.dumps(data)))
                    try:
                        value = self._run_activity(task.name, payload)
                    except Exception as exc:
                        new.append(helpers.new_task_failed_event(action.id, exc))
                    else:
                        new.append(helpers.new_task_completed_event(action.id,
                                                                    json.dumps(value)))
                elif kind == "createTimer":
                    ct = action.createTimer
                    created = helpers.new_timer_created_event(action.id, ct.fireAt)
                    origin = ct.WhichOneof("origin")
                    if origin:
                        getattr(created.timerCreated, origin).CopyFrom(getattr(ct, origin))
                    history.append(created)
                    if fire_at_is_sentinel(ct.fireAt):
                        continue  # an indefinite wait's placeholder timer never fires
                    fire_at = ct.fireAt.ToDatetime(tzinfo=UTC)
                    if fire_at - self.now < timedelta(hours=1):
                        new.append(new_timer_fired_event(action.id, ct.fireAt))
                    else:
                        waiting_timers.append((action.id, ct.fireAt))
            if len(new) == 1:  # nothing happened: the workflow waits for the outside world
                if self.idle_events:
                    name, data = self.idle_events.pop(0)
                    new.append(helpers.new_event_raised_event(name, json.dumps(data)))
                elif self.fire_long_timers and waiting_timers:
                    new.append(new_timer_fired_event(*waiting_timers[0]))
                else:
                    return {"waiting": True}
        raise AssertionError("the workflow did not finish")

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def statuses(self) -> list[tuple[str, str | None]]:
        """The status changes made, in order (a confirming charge makes `processing`)."""
        return self.changes


def ok(value: Any) -> Outcome:
    return lambda payload: value


def fail(payload: dict[str, Any]) -> Any:
    raise Boom("down")


APPLIED = ok({"applied": True, "status": "x"})
RESERVED = {"outcome": "reserved"}
PAID = {"status": "succeeded", "charge_id": "ch_1", "decline_reason": None, "hold": "confirmed"}
HAPPY: dict[str, Any] = {
    "place_order": ok({"reserve": RESERVED, "charge": PAID}),
    # The separate steps: orders started before PLACE_IN_ONE, and the way to finish when
    # place_order fails part-way.
    "reserve_stock": ok(RESERVED),
    "charge_payment": ok(PAID),
    "refund_payment": ok({"status": "succeeded", "refund_id": "re_1"}),
    "set_status": APPLIED,
}
# place_order failing past its retry policy: the workflow goes on step by step.
STEPWISE: dict[str, Any] = {**HAPPY, "place_order": fail}
PLACE_ATTEMPTS = workflow.STEP_RETRY.max_number_of_attempts


def placed(**result: Any) -> dict[str, Any]:
    return {**HAPPY, "place_order": ok({"reserve": RESERVED, **result})}


def test_happy_path_status_by_status() -> None:
    sim = Sim(HAPPY, events=[("shipped", {"by": "admin"}), ("delivered", {"by": "admin"})])
    assert sim.run() == {"order_id": ORDER_ID, "status": "delivered"}
    assert sim.names == ["place_order", "commit_stock", "set_status", "set_status"]
    assert sim.statuses() == [("processing", None), ("shipped", None), ("delivered", None)]


def test_waits_for_shipment_after_confirming() -> None:
    sim = Sim(HAPPY)
    assert sim.run() == {"waiting": True}
    assert sim.statuses() == [("processing", None)]
    assert sim.custom_statuses[-1] == "processing"


def test_an_order_charged_before_the_upgrades_replays_the_old_steps() -> None:
    # Turns 1-2 were stored before both patches: reserve, then the charge scheduled unpatched.
    sim = Sim(HAPPY, recorded_before_patch=2)
    assert sim.run() == {"waiting": True}
    assert sim.names == ["reserve_stock", "charge_payment", "set_status"]
    assert sim.statuses() == [("processing", None)]


def test_an_order_reserved_before_the_upgrades_takes_the_confirming_charge() -> None:
    sim = Sim(HAPPY, recorded_before_patch=1)
    assert sim.run() == {"waiting": True}
    assert sim.names == ["reserve_stock", "charge_payment"]
    assert sim.calls[1][1]["confirm_order"] is True


def test_out_of_stock_cancels_without_charging() -> None:
    sim = Sim({**HAPPY, "place_order": ok({"reserve": {"outcome": "out_of_stock",
                                                       "unavailable": ["p"]}})})
    assert sim.run()["reason"] == "out_of_stock"
    assert sim.names == ["place_order", "set_status"]
    assert sim.statuses() == [("cancelled", "out_of_stock")]


def test_decline_releases_stock_then_cancels() -> None:
    sim = Sim(placed(charge={"status": "declined", "charge_id": "ch_2",
                             "decline_reason": "card_declined"}))
    assert sim.run()["reason"] == "payment_declined"
    assert sim.names == ["place_order", "release_stock", "set_status"]


def test_a_cancel_asked_for_before_the_charge_releases_without_charging() -> None:
    sim = Sim(placed(cancel_reason="cancelled_by_admin"))
    assert sim.run()["reason"] == "cancelled_by_admin"
    assert sim.names == ["place_order", "release_stock", "set_status"]
    assert sim.statuses() == [("cancelled", "cancelled_by_admin")]
    assert sim.calls[-1][1]["expected"] == ["pending"]


def test_cancel_raised_while_placing_refunds_and_releases() -> None:
    sim = Sim(HAPPY, raise_with={"place_order": [("cancel", {"by": "admin"})]})
    assert sim.run()["reason"] == "cancelled_by_admin"
    assert sim.names == ["place_order", "refund_payment", "release_stock", "set_status"]
    refund = next(p for n, p in sim.calls if n == "refund_payment")
    assert refund["charge_id"] == "ch_1"
    # The charge confirmed the order before the workflow saw the cancel.
    assert sim.statuses() == [("processing", None), ("cancelled", "cancelled_by_admin")]
    assert sim.calls[-1][1]["expected"] == ["pending", "processing"]


def test_a_hold_lost_before_payment_refunds_and_cancels_out_of_stock() -> None:
    sim = Sim(placed(charge={**PAID, "hold": "lost"}))
    assert sim.run()["reason"] == "out_of_stock"
    assert sim.names == ["place_order", "refund_payment", "release_stock", "set_status"]


def test_placing_that_keeps_failing_goes_on_step_by_step() -> None:
    sim = Sim(STEPWISE)
    assert sim.run() == {"waiting": True}
    assert sim.names == ["place_order"] * PLACE_ATTEMPTS + ["reserve_stock", "charge_payment"]
    assert sim.calls[-1][1]["confirm_order"] is True
    assert sim.statuses() == [("processing", None)]


def test_step_by_step_a_cancel_raised_while_reserving_never_charges() -> None:
    sim = Sim(STEPWISE, raise_with={"reserve_stock": [("cancel", {"by": "customer"})]})
    assert sim.run()["reason"] == "cancelled_by_customer"
    assert "charge_payment" not in sim.names
    assert sim.names[PLACE_ATTEMPTS:] == ["reserve_stock", "release_stock", "set_status"]


def test_step_by_step_a_decline_releases_stock_then_cancels() -> None:
    sim = Sim({**STEPWISE, "charge_payment": ok({"status": "declined", "charge_id": "ch_2",
                                                 "decline_reason": "card_declined"})})
    assert sim.run()["reason"] == "payment_declined"
    assert sim.names[PLACE_ATTEMPTS:] == ["reserve_stock", "charge_payment", "release_stock",
                                          "set_status"]


def test_cancel_while_processing_refunds_releases_and_cancels() -> None:
    sim = Sim(HAPPY, events=[("cancel", {"by": "customer"})])
    assert sim.run()["reason"] == "cancelled_by_customer"
    assert sim.names[-3:] == ["refund_payment", "release_stock", "set_status"]
    assert sim.statuses() == [("processing", None), ("cancelled", "cancelled_by_customer")]
    assert sim.calls[-1][1]["expected"] == ["processing"]


def test_cancel_after_shipping_is_ignored() -> None:
    sim = Sim(HAPPY, events=[("shipped", {}), ("cancel", {}), ("delivered", {})])
    assert sim.run()["status"] == "delivered"
    assert "refund_payment" not in sim.names


def test_unshipped_order_is_cancelled_and_refunded_after_the_deadline() -> None:
    sim = Sim(HAPPY, fire_long_timers=True)
    assert sim.run()["reason"] == "not_shipped_in_time"
    assert sim.names[-3:] == ["refund_payment", "release_stock", "set_status"]


def test_transient_failures_are_retried_by_policy() -> None:
    sim = Sim({**HAPPY, "place_order": [fail, fail, HAPPY["place_order"]]})
    assert sim.run() == {"waiting": True}
    assert sim.names == ["place_order"] * 3
    assert sim.statuses() == [("processing", None)]


def test_a_charge_is_retried_past_its_policy_until_the_outcome_is_known() -> None:
    attempts = workflow.STEP_RETRY.max_number_of_attempts
    script: list[Outcome] = [fail] * (attempts + 2) + [HAPPY["charge_payment"]]
    sim = Sim({**STEPWISE, "charge_payment": script})
    assert sim.run() == {"waiting": True}
    assert sim.names.count("charge_payment") == attempts + 3


def test_a_pause_between_retry_rounds_is_announced_so_it_is_not_taken_for_a_stall() -> None:
    attempts = workflow.STEP_RETRY.max_number_of_attempts
    sim = Sim({**STEPWISE, "charge_payment": [fail] * attempts + [HAPPY["charge_payment"]]})
    assert sim.run() == {"waiting": True}
    pausing = sorted({s for s in sim.custom_statuses if s and "retrying" in s})
    assert len(pausing) == 1 and "charge_payment" in pausing[0]
    # The reconciler reads it back: the pause of 15 s from T0 ended long ago ...
    assert reconciler.past_retry_s(SimpleNamespace(serialized_custom_status=pausing[0])) > 3600
    # ... while a pause that ends in the future keeps the workflow from counting as idle.
    ahead = json.dumps(workflow.retry_status("charge_payment",
                                            datetime.now(UTC) + timedelta(minutes=4)))
    assert reconciler.past_retry_s(SimpleNamespace(serialized_custom_status=ahead)) < -200
    for other in (json.dumps("charging"), None, "not json", json.dumps("retrying x until ?")):
        assert reconciler.past_retry_s(SimpleNamespace(serialized_custom_status=other)) == \
            float("inf")


def test_reservation_that_keeps_failing_releases_and_cancels() -> None:
    sim = Sim({**STEPWISE, "reserve_stock": fail})
    assert sim.run()["reason"] == "inventory_unavailable"
    assert sim.names.count("reserve_stock") == workflow.RESERVE_RETRY.max_number_of_attempts
    assert sim.names[-2:] == ["release_stock", "set_status"]


def test_a_rerun_on_an_order_that_is_no_longer_pending_touches_nothing() -> None:
    sim = Sim({**HAPPY, "place_order": ok({"reserve": {"outcome": "skipped",
                                                       "status": "cancelled"}})})
    assert sim.run()["skipped"] is True
    assert sim.names == ["place_order"]


@pytest.mark.parametrize("policy", [workflow.STEP_RETRY, workflow.RESERVE_RETRY])
def test_retry_policies_are_explicit_and_bounded(policy: Any) -> None:
    assert 1 < policy.max_number_of_attempts <= 10
    assert policy.max_retry_interval is not None


def test_a_missing_order_fails_its_step_at_once_instead_of_retrying() -> None:
    def missing(payload: dict[str, Any]) -> Any:
        raise NonRetryableError("order does not exist")

    sim = Sim({**HAPPY, "place_order": missing, "reserve_stock": missing})
    assert sim.run()["reason"] == "inventory_unavailable"
    assert sim.names == ["place_order", "reserve_stock", "release_stock", "set_status"]


SKIPPED_PROCESSING = ok({"outcome": "skipped", "status": "processing"})


def test_a_failed_placing_that_had_confirmed_the_order_finds_its_charge_again() -> None:
    # place_order charged and confirmed, then failed (say, publishing): the order is
    # processing, so the reservation step skips; the workflow must still take the charge's
    # result and watch the order, not end as if a re-run had found it finished.
    sim = Sim({**STEPWISE, "reserve_stock": SKIPPED_PROCESSING})
    assert sim.run() == {"waiting": True}
    assert sim.names[PLACE_ATTEMPTS:] == ["reserve_stock", "charge_payment"]
    assert sim.custom_statuses[-1] == "processing"


def test_a_cancel_after_a_placing_that_got_through_is_refunded() -> None:
    sim = Sim({**STEPWISE, "reserve_stock": SKIPPED_PROCESSING},
              raise_with={"reserve_stock": [("cancel", {"by": "customer"})]})
    assert sim.run()["reason"] == "cancelled_by_customer"
    assert sim.names[PLACE_ATTEMPTS:] == ["reserve_stock", "charge_payment", "refund_payment",
                                          "release_stock", "set_status"]


def test_before_the_patch_a_skipped_reservation_still_ends_the_rerun() -> None:
    sim = Sim({**HAPPY, "reserve_stock": SKIPPED_PROCESSING}, recorded_before_patch=1)
    assert sim.run()["skipped"] is True
    assert sim.names == ["reserve_stock"]


def test_a_workflow_that_never_ran_counts_as_idle_since_its_creation() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    updated = SimpleNamespace(last_updated_at=minute_ago, created_at=epoch)
    assert 59 < reconciler.idle_s(updated) < 120
    never_ran = SimpleNamespace(last_updated_at=epoch, created_at=minute_ago)
    assert 59 < reconciler.idle_s(never_ran) < 120
    # Neither time: the state a crash between creation and the first turn leaves. Counting
    # it as busy (0) left its order pending for good; it must count as stalled.
    assert reconciler.idle_s(SimpleNamespace(last_updated_at=epoch, created_at=epoch)) == \
        float("inf")
    assert reconciler.idle_s(SimpleNamespace()) == float("inf")
