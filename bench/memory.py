"""What the running stack holds in memory: each app's and each daprd's RSS and PSS (with its
child processes), the servers (PostgreSQL with its backends, Redis, placement, scheduler), the
whole platform's PSS and the number of PostgreSQL backends.

    .venv/bin/python bench/memory.py [--json out.json] [--check]

PSS splits shared pages (the Python interpreter, libraries) between the processes that map
them, so the sum of PSS is what the platform costs the machine; RSS counts them in each.
Targets (issue 20, item 4): every app under 100 MB RSS, every daprd under 80 MB, the whole
platform at most 1.5 GB PSS. `--check` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402

MB = 1_000_000
APP_RSS_MB, DAPRD_RSS_MB, PLATFORM_PSS_GB = 100, 80, 1.5


def measure() -> dict[str, dict[str, float]]:
    """{process name: {rss, pss, procs}} in bytes, each with its descendants."""
    out: dict[str, dict[str, float]] = {}
    for pidfile in sorted(stack.RUN.glob("*.pid")):
        try:
            root = psutil.Process(int(pidfile.read_text()))
            procs = [root, *root.children(recursive=True)]
        except (OSError, ValueError, psutil.Error):
            continue
        rss = pss = files = 0
        for p in procs:
            try:
                mem = p.memory_full_info()
                files += file_rss(p.pid)
            except (OSError, psutil.Error):
                continue
            rss += mem.rss
            pss += mem.pss
        out[pidfile.stem] = {"rss": rss, "pss": pss, "file": files, "procs": len(procs)}
    return out


def go_heap() -> dict[str, dict[str, float]]:
    """Each daprd's Go heap from its metrics port: live heap after the last collection can be
    read off `next_gc / (1 + GOGC/100)`; the rest of its RSS is the mapped binary."""
    import urllib.request

    out: dict[str, dict[str, float]] = {}
    for app in stack.load_apps()[1]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{app.metrics}/metrics",
                                        timeout=3) as r:
                text = r.read().decode()
        except OSError:
            continue
        values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                      if line.startswith(("go_memstats_", "go_gc_")) and " " in line)
        out[f"{app.name}-dapr"] = {
            k: float(values.get(v, "nan")) for k, v in (
                ("heap_alloc", "go_memstats_heap_alloc_bytes"),
                ("next_gc", "go_memstats_next_gc_bytes"),
                ("sys", "go_memstats_sys_bytes"),
                ("released", "go_memstats_heap_released_bytes"),
                ("gcs", "go_gc_duration_seconds_count"))}
    return out


def file_rss(pid: int) -> int:
    """Resident pages mapped from files (a binary's code and data, shared libraries)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    return 0


async def backends(secrets: dict[str, str]) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(secrets["users-db-dsn"])
    try:
        rows = await conn.fetch("SELECT coalesce(datname, '(none)') AS db, count(*) AS n "
                                "FROM pg_stat_activity GROUP BY 1 ORDER BY 1")
    finally:
        await conn.close()
    return {r["db"]: r["n"] for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    mem = measure()
    secrets = json.loads((stack.LOCAL / "secrets.json").read_text())
    pg = asyncio.run(backends(secrets))
    heap = go_heap()
    total = sum(v["pss"] for v in mem.values())
    print(f"{'process':22} {'RSS MB':>8} {'PSS MB':>8} {'file MB':>8} {'procs':>5}"
          f" {'Go heap':>8} {'next GC':>8} {'GCs':>5}")
    missed = []
    for name, v in mem.items():
        h = heap.get(name)
        go = f" {h['heap_alloc'] / MB:8.1f} {h['next_gc'] / MB:8.1f} {h['gcs']:5.0f}" if h else ""
        print(f"{name:22} {v['rss'] / MB:8.1f} {v['pss'] / MB:8.1f} {v['file'] / MB:8.1f}"
              f" {v['procs']:5d}{go}")
        limit = DAPRD_RSS_MB if name.endswith("-dapr") else APP_RSS_MB
        is_app = name.endswith("-dapr") or (ROOT / "services" / name).is_dir()
        if is_app and v["rss"] / MB >= limit:
            missed.append(f"{name}: {v['rss'] / MB:.0f} MB RSS (target < {limit} MB)")
    print(f"{'whole platform':22} {'':8} {total / MB:8.1f}")
    print(f"PostgreSQL backends: {sum(pg.values())} {json.dumps(pg, sort_keys=True)}")
    if total / 1e9 > PLATFORM_PSS_GB:
        missed.append(f"whole platform {total / 1e9:.2f} GB PSS (target <= {PLATFORM_PSS_GB} GB)")
    for line in missed:
        print(f"MISSED {line}")
    if args.json:
        args.json.write_text(json.dumps({"processes": mem, "pss_total": total,
                                         "pg_backends": pg, "go": heap}, indent=1))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
