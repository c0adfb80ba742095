"""The soak run: the load generator's journeys for a long time (15 minutes by default) on a
freshly started stack, recording each minute every process's memory (RSS and PSS), Redis's
memory and stream lengths, and each PostgreSQL database's size; then a plot and a verdict.

    .venv/bin/python bench/soak.py [--minutes 15] [--users 50] [--out .local/soak]

Writes `samples.csv` (with Redis' keys and bytes per group of keys: bench/redis_keys.py),
`memory.png`, `verdict.txt` and Locust's `report.html` to the output folder. Targets: no
process grows more than 15 % after the first 3 minutes, and Redis memory reaches a plateau:
its slope over the last 5 minutes is at most a fifth of its slope over the first 5 (or under
0.1 MiB a minute), so finished workflows and consumed stream entries must be purged or
trimmed by configuration. Which groups of keys still grow is in the verdict. Exit 1 when a
target is missed.
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
from redis_keys import breakdown, by_group  # noqa: E402

GROWTH_LIMIT = 0.15
WARM_UP_MIN = 3
# Redis' plateau: the slope of its memory over the last SLOPE_MIN minutes against the one
# over the first SLOPE_MIN. The workflow retention (10 minutes) only starts to purge at
# minute ~10, so a 15-minute soak's last 5 minutes are its first ones with every purge due.
SLOPE_MIN = 5
PLATEAU_FRACTION = 0.2
FLAT_MIB_PER_MIN = 0.1
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
    for topic in TOPICS:
        row[f"redis:xlen:{topic}"] = int(redis(secrets, "xlen", topic).strip() or 0)
    row["redis:streams"] = sum(row[f"redis:xlen:{t}"] for t in TOPICS)
    groups = by_group(breakdown(secrets["redis-password"]))
    row["redis:keys"] = sum(g["keys"] for g in groups.values())  # every database
    for name, g in groups.items():
        row[f"redis:keys:{name}"] = g["keys"]
        row[f"redis:bytes:{name}"] = g["bytes"]
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
    groups = sorted({k for r in rows for k in r if k.startswith("redis:bytes:")},
                    key=lambda k: -rows[-1].get(k, 0))
    axes[1].stackplot(minutes, *[[r.get(k, 0) / 2**20 for r in rows] for k in groups],
                      labels=[f"{k[12:]} (keys)" for k in groups], alpha=0.6)
    axes[1].plot(minutes, [r["redis:used_memory"] / 2**20 for r in rows], "k-",
                 label="used_memory (all)")
    axes[1].set_ylabel("Redis (MiB)")
    ax2 = axes[1].twinx()
    ax2.plot(minutes, [r["redis:streams"] for r in rows], "k--", label="stream entries")
    ax2.plot(minutes, [r["redis:keys"] for r in rows], "k:", label="keys")
    ax2.set_ylabel("stream entries, keys")
    axes[1].legend(loc="upper left", fontsize=7)
    ax2.legend(loc="lower right", fontsize=7)
    for k in sorted(k for k in rows[-1] if k.startswith("pg:")):
        axes[2].plot(minutes, [r.get(k, 0) / 2**20 for r in rows], label=k[3:])
    axes[2].set_ylabel("PostgreSQL (MiB)")
    axes[2].set_xlabel("minute")
    axes[2].legend(fontsize=7, ncol=3)
    fig.suptitle("Soak run: memory of every process, Redis and PostgreSQL")
    fig.tight_layout()
    fig.savefig(out)


def slope(rows: list[dict[str, float]], key: str) -> float:
    """Least-squares slope of `key` per minute over `rows` (0 with fewer than two)."""
    pts = [(r["minute"], r.get(key, 0.0)) for r in rows]
    if len(pts) < 2:
        return 0.0
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / var if var else 0.0


def verdict(rows: list[dict[str, float]]) -> tuple[list[str], list[str]]:
    """(what was measured, what missed a target)."""
    lines, missed = [], []
    base = next((r for r in rows if r["minute"] >= WARM_UP_MIN), rows[0])
    last = rows[-1]
    span = f"minute {base['minute']:.0f} to {last['minute']:.0f}"
    for k in sorted(k for k in last if k.startswith("rss:")):
        if k not in base or not base[k]:
            continue
        before, after = base[k] / 2**20, last[k] / 2**20
        growth = after / before - 1
        lines.append(f"{k[4:]}: {before:.0f} -> {after:.0f} MiB RSS ({100 * growth:+.1f} %)")
        if growth > GROWTH_LIMIT:
            missed.append(f"{k[4:]} grew {100 * growth:.0f} % from {span} "
                          f"({before:.0f} -> {after:.0f} MiB)")
    first_rows = [r for r in rows if r["minute"] <= rows[0]["minute"] + SLOPE_MIN]
    last_rows = [r for r in rows if r["minute"] >= last["minute"] - SLOPE_MIN]
    early = slope(first_rows, "redis:used_memory") / 2**20
    late = slope(last_rows, "redis:used_memory") / 2**20
    lines.append(f"Redis used_memory: {rows[0]['redis:used_memory'] / 2**20:.1f} -> "
                 f"{last['redis:used_memory'] / 2**20:.1f} MiB; slope {early:+.2f} MiB/min over "
                 f"the first {SLOPE_MIN} minutes, {late:+.2f} over the last {SLOPE_MIN}")
    lines.append(f"Redis keys {last['redis:keys']:.0f}, stream entries "
                 f"{last['redis:streams']:.0f} ("
                 + ", ".join(f"{t} {last.get(f'redis:xlen:{t}', 0):.0f}" for t in TOPICS) + ")")
    for k in sorted((k for k in last if k.startswith("redis:bytes:")),
                    key=lambda k: -last[k]):
        name = k[12:]
        lines.append(f"  {name}: {last.get(f'redis:keys:{name}', 0):.0f} keys, "
                     f"{last[k] / 2**20:.2f} MiB; slope {slope(first_rows, k) / 2**20:+.3f} "
                     f"then {slope(last_rows, k) / 2**20:+.3f} MiB/min")
    if late > max(PLATEAU_FRACTION * early, FLAT_MIB_PER_MIN):
        missed.append(f"Redis memory still grows: {late:+.2f} MiB/min over the last "
                      f"{SLOPE_MIN} minutes against {early:+.2f} over the first")
    return lines, missed


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
    lines, missed = verdict(rows)
    report = [*lines, *(f"MISSED {line}" for line in missed)]
    (args.out / "verdict.txt").write_text("\n".join(report) + "\n")
    print("\n".join(report))
    print(json.dumps({"samples": str(args.out / "samples.csv"),
                      "plot": str(args.out / "memory.png"),
                      "report": str(args.out / "report.html"),
                      "verdict": str(args.out / "verdict.txt"), "locust_exit": load_rc}))
    return 1 if missed or load_rc else 0


if __name__ == "__main__":
    sys.exit(main())
