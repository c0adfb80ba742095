"""The only module that imports private parts of the Dapr Python SDK (`dapr`,
`dapr-ext-workflow`); everything else imports public names only.

Production needs two:
- `NonRetryableError`, which fails a workflow activity at once instead of after its retry
  policy, is not exported by `dapr.ext.workflow` 1.18;
- `TransactionalStateOperation` and `TransactionOperationType`, the operations of a state
  transaction on the gRPC client (the products cache), are not exported by `dapr.clients`.
The replay tests need the in-process orchestration executor and the history builders, to
run the order workflow against scripted histories exactly as the runtime replays it.

tests/unit/common/test_dapr_sdk.py imports every name below and checks its behaviour, so an
SDK upgrade that moves or changes one fails there, loudly and first, instead of in a
checkout or a catalog write.
"""

from __future__ import annotations

from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.ext.workflow._durabletask.internal import helpers as history
from dapr.ext.workflow._durabletask.internal.timer import (
    _fire_at_matches_sentinel as fire_at_is_sentinel,
)
from dapr.ext.workflow._durabletask.internal.timer import new_timer_fired_event
from dapr.ext.workflow._durabletask.task import NonRetryableError
from dapr.ext.workflow._durabletask.worker import _OrchestrationExecutor as OrchestrationExecutor
from dapr.ext.workflow._durabletask.worker import _Registry as Registry

__all__ = ["NonRetryableError", "OrchestrationExecutor", "Registry", "TransactionOperationType",
           "TransactionalStateOperation", "fire_at_is_sentinel", "history",
           "new_timer_fired_event"]
