"""The Dapr scheduler's etcd gives back what finished jobs held, by its own flags: every
workflow timer and retention reminder is a job written and deleted, and with Dapr's defaults
(compact to the last 1000000 revisions, snapshot every 100000 writes) its memory grew with
every order of the soak (bench/README.md)."""

from __future__ import annotations

import itertools
import re

import yaml

from tests.conftest import ROOT, stack

UNITS = {"s": 1, "m": 60, "h": 3600}


KEPT = ("--etcd-compaction-mode", "--etcd-compaction-retention", "--etcd-snapshot-count")


def flags(args: list[str]) -> dict[str, str]:
    return {a: b for a, b in itertools.pairwise(args) if a in KEPT}


def check(etcd: dict[str, str], where: str) -> None:
    assert etcd["--etcd-compaction-mode"] == "periodic", where
    retention = re.fullmatch(r"(\d+)([smh])", etcd["--etcd-compaction-retention"])
    assert retention, where
    n, unit = retention.groups()
    # Long enough for a watcher that falls behind briefly, short against a soak's 15 minutes.
    assert 60 <= int(n) * UNITS[unit] <= 15 * 60, where
    assert int(etcd["--etcd-snapshot-count"]) <= 10_000, where


def test_the_local_scheduler_compacts_and_snapshots() -> None:
    check(flags(stack.scheduler_proc().argv), "scripts/stack.py")


def test_compose_runs_the_scheduler_with_the_same_etcd_flags() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["scheduler"]["command"]
    assert flags(command) == flags(stack.scheduler_proc().argv)
