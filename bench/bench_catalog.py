"""Catalog throughput and latency with wrk, for the cached listing and for a search, in
one run, three ways:

- gateway: an anonymous client of the public API; the gateway answers from its edge cache
  after checking the catalog version through its sidecar (services/gateway/edgecache.py);
- no-cache: the same request with `Cache-Control: no-cache`, which the gateway forwards
  through both sidecars to the products service (its own cache in Dapr answers);
- direct: the products service called directly (with the app token daprd would send).

    .venv/bin/python bench/bench_catalog.py [--duration 10] [--connections 32] [--rate 500]

Needs a running stack (scripts/stack.py up --detach) and `wrk`. Two kinds of run:

- saturation: `--connections` connections as fast as they can for `--duration` seconds
  (requests per second, p50, p99), and the ratio gateway / direct;
- fixed rate: wrk has no open-loop mode (and wrk2 is not packaged), so a Lua `delay()` hook
  hands out send slots `1 / rate` apart and each of `--rate-connections` connections waits
  for the next one; the achieved rate is printed next to the latencies. Latency is timed
  from the actual send, so if every connection is busy the server's stall is under-reported
  (coordinated omission): check that the achieved rate is the asked one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402  (scripts/stack.py: the per-app API token)

SECRETS = ROOT / ".local" / "secrets.json"
GATEWAY = "http://127.0.0.1:8080"
DIRECT = "http://127.0.0.1:3002"
QUERIES = {
    "listing": "/api/products?page_size=20",
    "search": "/api/products?search=wireless%20headphones&page_size=20",
}

# wrk prints this JSON line at the end of a run.
REPORT_LUA = """
-- Fixed rate (BENCH_RATE > 0): every thread hands out send slots `interval` ms apart and each
-- connection waits for the next free slot, so requests leave at the rate as long as a
-- connection is free (wrk has no open-loop mode; wrk2 is not packaged).
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_usec; } bench_timeval;
    int gettimeofday(bench_timeval *tv, void *tz);
  ]]
  local tv = ffi.new("bench_timeval")
  local function now_ms()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
  end
  local interval = tonumber(os.getenv("BENCH_THREADS")) * 1000 / rate
  local slot = nil
  function delay()
    local t = now_ms()
    if slot == nil or slot < t - 1000 then slot = t end
    slot = slot + interval
    local wait = slot - t
    if wait < 0 then return 0 end
    return wait
  end
end
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "non2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, non2xx, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


@dataclass
class Result:
    target: str
    query: str
    mode: str
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int


def run_wrk(url: str, headers: dict[str, str], *, connections: int, duration: int,
            threads: int, rate: int = 0, lua: str = "") -> dict[str, int]:
    """One wrk run with the report script (plus `lua`, e.g. a request function)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(REPORT_LUA + lua)
        script = fh.name
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
            "-s", script]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True,
                             env={"BENCH_RATE": str(rate), "BENCH_THREADS": str(threads),
                                  "PATH": "/usr/bin:/bin"},
                             timeout=duration + 60).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    report: dict[str, int] = json.loads(line.removeprefix("BENCH "))
    return report


def measure(target: str, base: str, headers: dict[str, str], query: str, path: str, mode: str,
            *, connections: int, duration: int, rate: int = 0) -> Result:
    report = run_wrk(base + path, headers, connections=connections, duration=duration,
                     threads=min(2, connections), rate=rate)
    seconds = report["duration_us"] / 1e6
    return Result(target, query, mode, report["requests"] / seconds, report["p50_us"] / 1000,
                  report["p99_us"] / 1000, report["non2xx"], report["socket_errors"])


def check(url: str, headers: dict[str, str]) -> str:
    """Fail unless `url` lists products; the answer's x-cache header (gateway only)."""
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback only)
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
        body = json.loads(r.read())
    if r.status != 200 or not body.get("items"):
        raise SystemExit(f"{url} answered {r.status} with no items: is the catalog seeded?")
    return r.headers.get("x-cache", "-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per saturation run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=500, help="requests/s of the fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=32)
    parser.add_argument("--rate-duration", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 1
    # products' own APP_API_TOKEN (each app has one, scripts/stack.py app_api_token)
    token = stack.app_api_token(json.loads(SECRETS.read_text()), "products")
    targets = {"gateway": (GATEWAY, {}), "no-cache": (GATEWAY, {"cache-control": "no-cache"}),
               "direct": (DIRECT, {"dapr-api-token": token})}
    for base, headers in targets.values():
        for path in QUERIES.values():
            check(base + path, headers)  # also warms the caches
    for path in QUERIES.values():
        edge = check(GATEWAY + path, {})
        print(f"gateway {path}: x-cache {edge}")

    results: list[Result] = []
    for query, path in QUERIES.items():
        for target, (base, headers) in targets.items():
            measure(target, base, headers, query, path, "warm-up", connections=8, duration=1)
            results.append(measure(target, base, headers, query, path, "saturation",
                                   connections=args.connections, duration=args.duration))
    for target, (base, headers) in targets.items():
        results.append(measure(target, base, headers, "listing", QUERIES["listing"],
                               f"{args.rate}/s", connections=args.rate_connections,
                               duration=args.rate_duration, rate=args.rate))

    print(f"\nwrk, {args.connections} connections x {args.duration}s (saturation); "
          f"{args.rate_connections} connections paced to {args.rate}/s x "
          f"{args.rate_duration}s (fixed rate)\n")
    print(f"{'query':<8} {'target':<9} {'mode':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'non-2xx':>8} {'errors':>7}")
    for r in results:
        print(f"{r.query:<8} {r.target:<9} {r.mode:<11} {r.rps:>8.0f} {r.p50_ms:>8.2f} "
              f"{r.p99_ms:>8.2f} {r.non2xx:>8} {r.errors:>7}")
    print()
    for query in QUERIES:
        by = {r.target: r for r in results if r.query == query and r.mode == "saturation"}
        for target in ("gateway", "no-cache"):
            print(f"{query}: {target} / direct = {by[target].rps / by['direct'].rps:.2f} of "
                  f"the throughput, p99 {by[target].p99_ms:.1f} ms vs {by['direct'].p99_ms:.1f} ms")
    listing = {r.target: r for r in results if r.query == "listing" and r.mode == "saturation"}
    paced = {r.target: r for r in results if r.query == "listing" and r.mode != "saturation"}
    print("\ntargets (issue 5), cached listing through the gateway:")
    for what, value, ok in (
            ("req/s >= 1500", f"{listing['gateway'].rps:.0f}", listing["gateway"].rps >= 1500),
            (f"p99 < 20 ms at {args.rate}/s", f"{paced['gateway'].p99_ms:.1f} ms",
             paced["gateway"].p99_ms < 20),
            ("gateway / direct >= 0.5", f"{listing['gateway'].rps / listing['direct'].rps:.2f}",
             listing["gateway"].rps >= 0.5 * listing["direct"].rps)):
        print(f"  {what:<24} {value:>9}  {'PASS' if ok else 'FAIL'}")
    bad = [r for r in results if r.non2xx or r.errors]
    if bad:
        print("\nsome requests failed: see the non-2xx and errors columns", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
