"""The outbox relay's wake-up logic (services/common/outbox.py): who publishes, and when.

The flush itself (claim, publish, mark) runs against the real database and sidecar in the
integration tests; here an Outbox whose flush only records its calls shows which publisher
runs it, so the hand-over between `publish_committed` and the Drainer can be checked exactly,
including a kick from another thread and a drainer that has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from services.common.outbox import Drainer, Outbox


class RecordingOutbox(Outbox):
    def __init__(self) -> None:
        super().__init__("test_outbox", "test")
        self.flushes: list[dict[str, Any]] = []
        self.flushed = asyncio.Event()

    async def flush(self, pool: Any, sidecar: Any, *, key: Any = None,
                    min_age_s: float = 0.0) -> int:
        self.flushes.append({"key": key, "min_age_s": min_age_s,
                             "thread": threading.current_thread().name})
        self.flushed.set()
        return 0


async def started(outbox: RecordingOutbox) -> Drainer:
    drainer = Drainer(outbox, pool=None, sidecar=None,  # type: ignore[arg-type]
                      interval_s=3600)
    drainer.start()
    await asyncio.sleep(0)
    return drainer


async def test_a_commit_wakes_the_relay_which_publishes_fresh_rows() -> None:
    outbox = RecordingOutbox()
    drainer = await started(outbox)
    try:
        await outbox.publish_committed(None, None, key="k")  # type: ignore[arg-type]
        await asyncio.wait_for(outbox.flushed.wait(), 2)
        # The relay took it: all fresh rows, not only this key's, and no inline flush.
        assert outbox.flushes == [{"key": None, "min_age_s": 0.0,
                                   "thread": threading.current_thread().name}]
    finally:
        await drainer.stop()


async def test_a_commit_on_another_thread_wakes_the_relay_on_its_own_loop() -> None:
    outbox = RecordingOutbox()
    drainer = await started(outbox)

    def activity() -> None:  # as the order workflow's activities do, on their own loop
        asyncio.run(outbox.publish_committed(None, None, key="k"))  # type: ignore[arg-type]

    try:
        worker = threading.Thread(target=activity, name="activity-loop")
        worker.start()
        await asyncio.to_thread(worker.join)
        await asyncio.wait_for(outbox.flushed.wait(), 2)
        assert [f["thread"] for f in outbox.flushes] == [threading.current_thread().name]
    finally:
        await drainer.stop()


async def test_without_a_running_relay_the_commit_publishes_inline() -> None:
    outbox = RecordingOutbox()
    drainer = await started(outbox)
    await drainer.stop()
    assert outbox.relay is None and not drainer.kick()
    await outbox.publish_committed(None, None, key="k")  # type: ignore[arg-type]
    assert outbox.flushes == [{"key": "k", "min_age_s": 0.0,
                               "thread": threading.current_thread().name}]


async def test_a_relay_whose_task_died_is_not_trusted() -> None:
    outbox = RecordingOutbox()
    drainer = await started(outbox)
    assert drainer._task is not None
    drainer._task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drainer._task
    assert not drainer.kick()
    await outbox.publish_committed(None, None, key="k")  # type: ignore[arg-type]
    assert [f["key"] for f in outbox.flushes] == ["k"]  # published inline
    await drainer.stop()
