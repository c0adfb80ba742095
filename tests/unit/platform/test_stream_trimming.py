"""The pub/sub streams are trimmed by configuration (no sweeper of ours), to a size that fits
the platform's memory budget and still covers a consumer being down for a while.

Measured (bench/README.md, the soak): an `orders` event takes ~1.4 KB of Redis, an
`inventory` one ~0.7 KB; without a cap each stream grows with every event ever published."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
EVENT_BYTES = 1400  # the largest measured entry (an order event)
STREAM_BUDGET_BYTES = 32 * 2**20  # per topic; five topics stay far below the 1.5 GB platform


def test_every_topic_stream_is_capped_within_the_memory_budget() -> None:
    # The one source: compose mounts components/, the Helm chart links to it.
    spec = yaml.safe_load((ROOT / "components" / "pubsub.yaml").read_text())["spec"]
    meta = {m["name"]: m.get("value") for m in spec["metadata"]}
    # The component accepts one trimming strategy; with both set it warns and Redis
    # refuses an XADD that has MAXLEN and MINID together.
    assert "streamTTL" not in meta
    cap = int(meta["maxLenApprox"])
    # Enough for a consumer's restart: ~10 minutes at the soak's ~8 order events/s ...
    assert cap >= 5_000
    # ... and no more than the budget: 100000 let the streams take ~400 MB.
    assert cap * EVENT_BYTES <= STREAM_BUDGET_BYTES
