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
    row.update(scheduler_metrics())
    return row


def scheduler_metrics() -> dict[str, float]:
    """The scheduler's Go heap and its etcd's database size, live keys and compacted
    revision (what grows with every job and what compaction gives back)."""
    import urllib.request

    wanted = {"go_memstats_heap_inuse_bytes": "scheduler:heap_inuse",
              "etcd_mvcc_db_total_size_in_bytes": "scheduler:etcd_db",
              "etcd_mvcc_db_total_size_in_use_in_bytes": "scheduler:etcd_db_in_use",
              "etcd_debugging_mvcc_keys_total": "scheduler:etcd_keys",
              "etcd_debugging_mvcc_compact_revision": "scheduler:etcd_compacted"}
    out: dict[str, float] = {}
    for port in (stack.SCHEDULER_METRICS_PORT, 16237):  # the scheduler's own, its etcd's
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                out[wanted[name]] = float(value)
    return out


def plot(rows: list[dict[str, float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["minute"] for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(11, 15), sharex=True)
    keys = sorted({k for r in rows for k in r if k.startswith("rss:")})
    for k in keys:
        axes[0].plot(minutes, [r.get(k, 0) / 2**20 for r in rows], label=k[4:])
    axes[0].set_yscale("log")  # PostgreSQL's ~40 processes would flatten the rest
    axes[0].set_ylabel("RSS (MiB, log)")
    axes[0].legend(fontsize=7, ncol=4)
    # The target: growth after the warm-up, each process against its own minute-3 RSS.
    base = next((r for r in rows if r["minute"] >= WARM_UP_MIN), rows[0])
    for k in keys:
        if base.get(k):
            growth = [100 * (r.get(k, 0) / base[k] - 1) if r["minute"] >= base["minute"]
                      else None for r in rows]
            far = max(abs(g) for g in growth if g is not None) > GROWTH_LIMIT * 100 / 3
            axes[1].plot(minutes, growth, label=k[4:] if far else None,
                         linewidth=2 if far else 0.7)
    axes[1].axhline(100 * GROWTH_LIMIT, color="r", linestyle="--",
                    label=f"target: +{100 * GROWTH_LIMIT:.0f} %")
    axes[1].set_ylabel(f"RSS vs minute {WARM_UP_MIN} (%)")
    axes[1].legend(fontsize=7, ncol=3, loc="upper left")
    groups = sorted({k for r in rows for k in r if k.startswith("redis:bytes:")},
                    key=lambda k: -rows[-1].get(k, 0))
    axes[2].stackplot(minutes, *[[r.get(k, 0) / 2**20 for r in rows] for k in groups],
                      labels=[k[12:] for k in groups], alpha=0.6)
    axes[2].plot(minutes, [r["redis:used_memory"] / 2**20 for r in rows], "k-",
                 label="used_memory (all)")
    axes[2].set_ylabel("Redis (MiB): keys by group")
    ax2 = axes[2].twinx()
    ax2.plot(minutes, [r["redis:streams"] for r in rows], "k--", label="stream entries")
    ax2.plot(minutes, [r["redis:keys"] for r in rows], "k:", label="keys")
    ax2.set_ylabel("stream entries, keys")
    axes[2].legend(loc="upper left", fontsize=7)
    ax2.legend(loc="lower right", fontsize=7)
    for k in sorted(k for k in rows[-1] if k.startswith("pg:")):
        axes[3].plot(minutes, [r.get(k, 0) / 2**20 for r in rows], label=k[3:])
    axes[3].set_ylabel("PostgreSQL databases (MiB)")
    axes[3].set_xlabel("minute")
    axes[3].legend(fontsize=7, ncol=3)
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
    parser.add_argument("--from-samples", action="store_true",
                        help="no run: redraw the plot and the verdict from OUT/samples.csv")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_samples:
        with (args.out / "samples.csv").open() as f:
            saved = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]
        return report(saved, args.out, 0)
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
    return report(rows, args.out, load_rc)


def report(rows: list[dict[str, float]], out: Path, load_rc: int) -> int:
    plot(rows, out / "memory.png")
    lines, missed = verdict(rows)
    text = [*lines, *(f"MISSED {line}" for line in missed)]
    (out / "verdict.txt").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    print(json.dumps({"samples": str(out / "samples.csv"), "plot": str(out / "memory.png"),
                      "report": str(out / "report.html"), "verdict": str(out / "verdict.txt"),
                      "locust_exit": load_rc}))
    return 1 if missed or load_rc else 0


if __name__ == "__main__":
    sys.exit(main())
