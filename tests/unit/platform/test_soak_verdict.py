"""The soak's verdict tells a plateau from a slope (bench/soak.py), and its Redis breakdown
groups keys by family (bench/redis_keys.py), without a stack."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
MIB = 2**20


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module("soak")
    finally:
        sys.path.remove(str(ROOT / "bench"))


def rows(redis_mib: list[float], rss_mib: float = 80.0) -> list[dict[str, float]]:
    return [{"minute": m, "rss:orders": rss_mib * MIB, "redis:used_memory": v * MIB,
             "redis:streams": 0, "redis:keys": 0, "redis:bytes:workflow state": v * MIB}
            for m, v in enumerate(redis_mib)]


def test_a_straight_line_is_no_plateau_even_if_its_last_third_grows_little(
        soak: ModuleType) -> None:
    # +2.5 MiB a minute on top of 150 MiB that an earlier run left: the last third grows
    # only 7 %, which a "last third under +10 %" check took for a plateau.
    line = [150 + 2.5 * m for m in range(16)]
    _, missed = soak.verdict(rows(line))
    assert any("Redis memory still grows" in m for m in missed)


def test_growth_that_stops_once_purging_starts_is_a_plateau(soak: ModuleType) -> None:
    # Fills for 10 minutes (the workflow retention), then purges as much as it adds.
    curve = [10 + 2.0 * min(m, 10) + 0.05 * (m % 2) for m in range(16)]
    lines, missed = soak.verdict(rows(curve))
    assert missed == []
    assert any("workflow state" in line for line in lines)


def test_a_process_growing_after_the_warm_up_is_reported(soak: ModuleType) -> None:
    data = rows([10.0] * 16)
    for r in data[3:]:
        r["rss:orders"] = (80 + 2 * (r["minute"] - 3)) * MIB  # 80 -> 104 MiB: +30 %
    _, missed = soak.verdict(data)
    assert missed == ["orders grew 30 % from minute 3 to 15 (80 -> 104 MiB)"]


def test_key_families_hide_ids_and_fall_into_groups() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        keys = importlib.import_module("redis_keys")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    wf = "orders||dapr.internal.default.orders.workflow||0b9c6f7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
    assert keys.family(f"{wf}||history-000017") == (
        "orders||dapr.internal.default.orders.workflow||<uuid>||history-<n>")
    assert keys.group("0", f"{wf}||metadata", "hash") == "workflow state"
    assert keys.family("basket||guest:" + "ab" * 32) == "basket||guest:<hash>"
    assert keys.family("gateway||ratelimit|read|127.0.0.1|29943044") == (
        "gateway||ratelimit|read|<ip>|<n>")
    assert keys.group("0", "orders", "stream") == "streams"
    assert keys.group("1", "cache||product:x", "string") == "catalog cache"
