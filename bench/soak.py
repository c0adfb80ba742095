"""The soak run: the load generator's journeys for a long time (15 minutes by default) on a
freshly started stack, recording each minute every process's memory (RSS and PSS), Redis's
memory and stream lengths, and each PostgreSQL database's size; then a plot and a verdict.

    .venv/bin/python bench/soak.py [--minutes 15] [--users 50] [--out .local/soak]

Writes `samples.csv`, `memory.png` and Locust's `report.html` to the output folder. Targets:
no process grows more than 15 % after the first 3 minutes, and Redis memory reaches a
plateau (its last third grows less than 10 %): finished workflows and consumed stream
entries must be purged or trimmed by configuration. Exit 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402
from memory import measure  # noqa: E402  (bench/memory.py: each process with its children)

GROWTH_LIMIT = 0.15
WARM_UP_MIN = 3
TOPICS = ("orders", "inventory", "users", "products", "deadletter")


def redis(secrets: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(stack.REDIS_PORT), "-a", secrets["redis-password"],
         "--no-auth-warning", *args], capture_output=True, text=True, check=True).stdout


async def database_sizes(secrets: dict[str, str]) -> dict[str, int]:
    import asyncpg

    sizes = {}
    for app in stack.DATABASE_APPS:
        conn = await asyncpg.connect(secrets[f"{app}-db-dsn"])
        try:
            sizes[f"pg:{app}"] = await conn.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await conn.close()
    return sizes


def sample(secrets: dict[str, str]) -> dict[str, float]:
    row: dict[str, float] = {}
    for name, mem in measure().items():  # PostgreSQL counts its backends
        row[f"rss:{name}"] = mem["rss"]
        row[f"pss:{name}"] = mem["pss"]
    info = dict(line.split(":", 1) for line in redis(secrets, "info", "memory").splitlines()
                if ":" in line)
    row["redis:used_memory"] = int(info["used_memory"])
    row["redis:streams"] = sum(int(redis(secrets, "xlen", t).strip() or 0) for t in TOPICS)
    row["redis:keys"] = int(redis(secrets, "dbsize").strip())
    row.update(asyncio.run(database_sizes(secrets)))
    return row


def plot(rows: list[dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(11, 12), sharex=True)
    keys = sorted({k for r in rows for k in r if k.startswith("rss:")})
    for k in keys:
        axes[0].plot(minutes, [r.get(k, 0) / 2**20 for r in rows], label=k[4:])
    axes[0].set_ylabel("RSS (MiB)")
    axes[0].legend(fontsize=7, ncol=3)
    axes[1].plot(minutes, [r["redis:used_memory"] / 2**20 for r in rows], label="used_memory")
    axes[1].set_ylabel("Redis (MiB)")
    ax2 = axes[1].twinx()
    ax2.plot(minutes, [r["redis:streams"] for r in rows], "g--", label="stream entries")
    ax2.set_ylabel("stream entries")
    axes[1].legend(loc="upper left")
    for k in sorted(k for k in rows[-1] if k.startswith("pg:")):
        axes[2].plot(minutes, [r.get(k, 0) / 2**20 for r in rows], label=k[3:])
    axes[2].set_ylabel("PostgreSQL (MiB)")
    axes[2].set_xlabel("minute")
    axes[2].legend(fontsize=7, ncol=3)
    fig.suptitle("Soak run: memory of every process, Redis and PostgreSQL")
    fig.tight_layout()
    fig.savefig(out)


def verdict(rows: list[dict[str, float]]) -> list[str]:
    missed = []
    base = next((r for r in rows if r["minute"] >= WARM_UP_MIN), rows[0])
    last = rows[-1]
    for k in sorted(k for k in last if k.startswith("rss:")):
        if k in base and base[k] and last[k] / base[k] - 1 > GROWTH_LIMIT:
            before, after = base[k] / 2**20, last[k] / 2**20
            missed.append(f"{k[4:]} grew {100 * (after / before - 1):.0f} % after minute "
                          f"{WARM_UP_MIN} ({before:.0f} -> {after:.0f} MiB)")
    two_thirds = rows[(2 * len(rows)) // 3]
    redis_growth = last["redis:used_memory"] / two_thirds["redis:used_memory"] - 1
    if redis_growth > 0.10:
        missed.append(f"Redis memory still grows: +{100 * redis_growth:.0f} % in the last third")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--out", type=Path, default=stack.LOCAL / "soak")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    secrets = stack.up()
    stack.seed()
    rows: list[dict[str, float]] = []
    try:
        load = subprocess.Popen(
            [str(stack.ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/locustfile.py"),
             "--host", stack.GATEWAY_URL, "--headless", "--users", str(args.users),
             "--spawn-rate", "10", "--run-time", f"{args.minutes}m", "--only-summary",
             "--html", str(args.out / "report.html"), "--csv", str(args.out / "load"),
             "--loglevel", "WARNING"], cwd=ROOT)
        start = time.monotonic()
        for minute in range(args.minutes + 1):
            time.sleep(max(0.0, start + 60 * minute - time.monotonic()))
            rows.append({"minute": minute, **sample(secrets)})
            pss = sum(v for k, v in rows[-1].items() if k.startswith("pss:")) / 2**30
            print(f"minute {minute}: Redis {rows[-1]['redis:used_memory'] / 2**20:.1f} MiB, "
                  f"every process's PSS {pss:.2f} GiB", flush=True)
        load_rc = load.wait()
    finally:
        stack.down()
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "minute", k))
    with (args.out / "samples.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.out / "memory.png")
    missed = verdict(rows)
    for line in missed:
        print(f"MISSED {line}")
    print(json.dumps({"samples": str(args.out / "samples.csv"),
                      "plot": str(args.out / "memory.png"),
                      "report": str(args.out / "report.html"), "locust_exit": load_rc}))
    return 1 if missed or load_rc else 0


if __name__ == "__main__":
    sys.exit(main())
