"""Dapr purges a finished order's workflow state by configuration (no sweeper of ours).

Checked by hand with a 15 s retention on the real stack: a cancelled order's workflow
answered 404 and its 25 Redis keys were gone 15 s after it finished, while the order kept
its status and history in the orders database."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_finished_workflows_are_purged_and_failed_ones_kept_for_an_operator() -> None:
    # The one Configuration, which compose mounts and the chart reads as well.
    spec = yaml.safe_load((ROOT / "dapr" / "config" / "orders.yaml").read_text())["spec"]
    policy = spec["workflow"]["stateRetentionPolicy"]
    assert 0 < seconds(policy["completed"]) <= 3600
    assert 0 < seconds(policy["terminated"]) <= 3600
    assert seconds(policy["failed"]) >= 7 * 24 * 3600
