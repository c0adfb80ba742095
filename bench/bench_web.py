"""Storefront pages through the gateway with wrk, anonymous (no cookie, as a first visit):
the catalog page and a product page. Each page is one request to the gateway, forwarded
through its sidecar and web's to the web app, which calls the public API back through the
sidecars (the catalog's answers come from the gateway's edge cache) and renders HTML.

    .venv/bin/python bench/bench_web.py [--duration 10] [--connections 16] [--rate 100]

Needs a running, seeded stack (scripts/stack.py up --detach) and `wrk`. Prints requests per
second (saturation), p50/p95/p99 at a fixed rate (the same Lua pacing as
bench/bench_catalog.py), and each page's size before pictures (HTML, CSS, script).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_catalog  # (its wrk pacing and report script)

GATEWAY = "http://127.0.0.1:8080"
# bench_catalog's report, with p95 as well.
REPORT_LUA = bench_catalog.REPORT_LUA.replace(
    '"p99_us": %d, ', '"p95_us": %d, "p99_us": %d, ').replace(
    "latency:percentile(99),", "latency:percentile(95), latency:percentile(99),")
TARGETS = {"catalog pages/s": 250.0, "p95 ms at the rate": 80.0, "page KB": 150.0}


def run_wrk(url: str, *, connections: int, duration: int, rate: int = 0) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(REPORT_LUA)
        script = fh.name
    threads = min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
            "-s", script, "-H", "Accept: text/html", url]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True,
                             env={"BENCH_RATE": str(rate), "BENCH_THREADS": str(threads),
                                  "PATH": "/usr/bin:/bin"}, timeout=duration + 60).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    report: dict[str, int] = json.loads(line.removeprefix("BENCH "))
    return report


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (loopback only)
        return r.status, r.read()


def page_weight(path: str) -> tuple[int, int]:
    """(HTML bytes, HTML + the stylesheets and scripts it links) of one page."""
    status, html = fetch(GATEWAY + path)
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    assets = re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)
    total = len(html) + sum(len(fetch(GATEWAY + a.decode())[1]) for a in set(assets))
    return len(html), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=100, help="pages/s of the fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 1
    listing = json.loads(fetch(GATEWAY + "/api/products?page_size=1&in_stock=true")[1])
    if not listing["items"]:
        print("the catalog is empty: seed it (scripts/seed.py)", file=sys.stderr)
        return 1
    pages = {"catalog": "/products", "product": f"/products/{listing['items'][0]['id']}"}
    rows = []
    weights = {name: page_weight(path) for name, path in pages.items()}
    for name, path in pages.items():
        run_wrk(GATEWAY + path, connections=4, duration=1)  # warm-up
        sat = run_wrk(GATEWAY + path, connections=args.connections, duration=args.duration)
        paced = run_wrk(GATEWAY + path, connections=args.rate_connections,
                        duration=args.duration, rate=args.rate)
        rows.append((name, sat, paced))
    print(f"\nwrk through the gateway, anonymous; {args.connections} connections x "
          f"{args.duration}s (saturation), paced to {args.rate}/s x {args.duration}s\n")
    print(f"{'page':<8} {'pages/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'at rate':>8} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} | {'HTML KB':>7} {'+css/js':>8}")
    failed = False
    for name, sat, paced in rows:
        rps = sat["requests"] / (sat["duration_us"] / 1e6)
        achieved = paced["requests"] / (paced["duration_us"] / 1e6)
        html, total = weights[name]
        print(f"{name:<8} {rps:>8.0f} {sat['p50_us'] / 1000:>7.1f} {sat['p99_us'] / 1000:>7.1f}"
              f" | {achieved:>8.0f} {paced['p50_us'] / 1000:>7.1f} "
              f"{paced['p95_us'] / 1000:>7.1f} {paced['p99_us'] / 1000:>7.1f} | "
              f"{html / 1024:>7.1f} {total / 1024:>8.1f}")
        failed |= bool(sat["non2xx"] or sat["socket_errors"] or paced["non2xx"]
                       or paced["socket_errors"])
    catalog = rows[0]
    cat_rps = catalog[1]["requests"] / (catalog[1]["duration_us"] / 1e6)
    p95 = max(r[2]["p95_us"] for r in rows) / 1000
    heaviest = max(total for _, total in weights.values()) / 1024
    print("\ntargets (issue 16):")
    for what, value, ok in (
            ("catalog >= 250 pages/s", f"{cat_rps:.0f}", cat_rps >= TARGETS["catalog pages/s"]),
            (f"p95 < 80 ms at {args.rate}/s", f"{p95:.1f} ms", p95 < TARGETS["p95 ms at the rate"]),
            ("every page < 150 KB", f"{heaviest:.1f} KB", heaviest < TARGETS["page KB"])):
        print(f"  {what:<26} {value:>9}  {'PASS' if ok else 'FAIL'}")
    if failed:
        print("\nsome requests failed (non-2xx or socket errors)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
