"""The only module that imports private parts of the Dapr workflow SDK (dapr-ext-workflow).

Production needs one: `NonRetryableError`, which fails an activity at once instead of
after its retry policy, is not exported by `dapr.ext.workflow` 1.18. The replay tests need
the in-process orchestration executor and the history builders, to run the orchestrator
against scripted histories exactly as the runtime replays it. tests/unit/orders/test_sdk.py
imports every name below and checks its behaviour, so an SDK upgrade that moves or changes
one fails there, loudly and first, instead of in a checkout.
"""

from __future__ import annotations

from dapr.ext.workflow._durabletask.internal import helpers as history
from dapr.ext.workflow._durabletask.internal.timer import (
    _fire_at_matches_sentinel as fire_at_is_sentinel,
)
from dapr.ext.workflow._durabletask.internal.timer import new_timer_fired_event
from dapr.ext.workflow._durabletask.task import NonRetryableError
from dapr.ext.workflow._durabletask.worker import _OrchestrationExecutor as OrchestrationExecutor
from dapr.ext.workflow._durabletask.worker import _Registry as Registry

__all__ = ["NonRetryableError", "OrchestrationExecutor", "Registry", "fire_at_is_sentinel",
           "history", "new_timer_fired_event"]
