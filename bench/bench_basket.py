"""Basket throughput and latency with wrk, through the gateway as a client sees it, beside the
catalog listing in the same run:

- catalog: `GET /api/products?page_size=20` (anonymous: the gateway's edge cache answers);
- basket GET: `GET /api/basket` of guest baskets holding two lines (gateway, both sidecars,
  basket, which reads the basket from the state store and the catalog version from the
  `cache` store, and prices the lines from its version-checked copy of the catalog);
- basket PUT: `PUT /api/basket/items/{id}` with a changing quantity (a real write: a
  state read, an ETag-guarded save with its TTL, and the priced basket back).

Requests go round-robin over `--baskets` guest baskets, so concurrent writes to one basket
(which the ETag retry handles) are rare, as with real shoppers. `--breakdown` adds the same
GET through basket's own sidecar only and to the app directly (with the app token daprd
sends), to see where the time goes.

    .venv/bin/python bench/bench_basket.py [--duration 10] [--connections 32] [--rate 300]

Needs a running, seeded stack (scripts/stack.py up --detach) and `wrk`. Saturation runs print
req/s, p50 and p99; the fixed-rate run (the same Lua pacing as bench_catalog.py, see there)
paces basket reads to `--rate` req/s and prints the achieved rate next to the latencies.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from bench_catalog import GATEWAY, SECRETS, Result, run_wrk  # bench/ is no package
from stack import app_api_token  # the token basket's daprd sends it

CATALOG = "/api/products?page_size=20"

BASKET_LUA = """
local tokens = {%(tokens)s}
local product = "%(product)s"
local method = "%(method)s"
local base = "%(base)s"
local i = 0
%(headers)s
function request()
  i = i + 1
  wrk.headers["X-Basket-Token"] = tokens[(i %% #tokens) + 1]
  if method == "PUT" then
    wrk.headers["Content-Type"] = "application/json"
    return wrk.format("PUT", base .. "/items/" .. product, nil,
                      '{"quantity": ' .. ((i %% 5) + 1) .. '}')
  end
  return wrk.format("GET", base)
end
"""
SIDECAR = "http://127.0.0.1:13007"
DIRECT = "http://127.0.0.1:3007"


def measure(target: str, url: str, lua: str, mode: str, *, connections: int, duration: int,
            rate: int = 0) -> Result:
    report = run_wrk(url, {}, lua=lua, connections=connections, duration=duration,
                     threads=min(2, connections), rate=rate)
    seconds = report["duration_us"] / 1e6
    return Result(target, "", mode, report["requests"] / seconds, report["p50_us"] / 1000,
                  report["p99_us"] / 1000, report["non2xx"], report["socket_errors"])


def prepare(baskets: int) -> tuple[list[str], str]:
    """Guest baskets of two seeded products each; the product the PUT run changes."""
    with httpx.Client(base_url=GATEWAY, timeout=30) as c:
        items = c.get(CATALOG, params={"in_stock": "true"}).json()["items"]
        if len(items) < 2:
            raise SystemExit("the catalog has fewer than 2 products in stock: seed it first")
        first, second = items[0]["id"], items[1]["id"]
        tokens = []
        for _ in range(baskets):
            r = c.post("/api/basket/guest")
            r.raise_for_status()
            token = r.json()["token"]
            for pid, qty in ((first, 1), (second, 2)):
                c.put(f"/api/basket/items/{pid}", headers={"X-Basket-Token": token},
                      json={"quantity": qty}).raise_for_status()
            tokens.append(token)
        return tokens, first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per saturation run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=300, help="basket reads/s, fixed-rate run")
    parser.add_argument("--rate-connections", type=int, default=32)
    parser.add_argument("--rate-duration", type=int, default=10)
    parser.add_argument("--baskets", type=int, default=64)
    parser.add_argument("--breakdown", action="store_true",
                        help="also GET through basket's own sidecar only, and the app directly")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 1
    tokens, product = prepare(args.baskets)
    secrets = json.loads(SECRETS.read_text())
    quoted = ", ".join(f'"{t}"' for t in tokens)

    def lua(method: str, base: str = "/api/basket", token: str | None = None) -> str:
        headers = f'wrk.headers["dapr-api-token"] = "{token}"' if token else ""
        return BASKET_LUA % {"tokens": quoted, "product": product, "method": method,
                             "base": base, "headers": headers}

    runs = [("catalog", GATEWAY + CATALOG, ""),
            ("basket GET", GATEWAY + "/api/basket", lua("GET")),
            ("basket PUT", GATEWAY + "/api/basket", lua("PUT"))]
    if args.breakdown:
        invoke = "/v1.0/invoke/basket/method/api/basket"
        runs += [("GET sidecar", SIDECAR + invoke,
                  lua("GET", invoke, secrets["dapr-api-token"])),
                 ("GET direct", DIRECT + "/api/basket",
                  lua("GET", token=app_api_token(secrets, "basket")))]
    results: list[Result] = []
    for target, url, script in runs:
        measure(target, url, script, "warm-up", connections=8, duration=1)
        results.append(measure(target, url, script, "saturation",
                               connections=args.connections, duration=args.duration))
    for target, url, script in runs[:2]:
        results.append(measure(target, url, script, f"{args.rate}/s",
                               connections=args.rate_connections, duration=args.rate_duration,
                               rate=args.rate))

    print(f"\nwrk through the gateway, {args.connections} connections x {args.duration}s "
          f"(saturation); {args.rate_connections} connections paced to {args.rate}/s x "
          f"{args.rate_duration}s (fixed rate); {args.baskets} guest baskets of 2 lines\n")
    print(f"{'target':<11} {'mode':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'non-2xx':>8} {'errors':>7}")
    for r in results:
        print(f"{r.target:<11} {r.mode:<11} {r.rps:>8.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
              f"{r.non2xx:>8} {r.errors:>7}")
    read = next(r for r in results if r.target == "basket GET" and r.mode == "saturation")
    paced = next(r for r in results if r.target == "basket GET" and r.mode != "saturation")
    print("\ntargets (issue 15), basket reads through the gateway and both sidecars:")
    for what, value, ok in (
            ("req/s >= 1000", f"{read.rps:.0f}", read.rps >= 1000),
            (f"p99 < 25 ms at {args.rate}/s", f"{paced.p99_ms:.1f} ms", paced.p99_ms < 25)):
        print(f"  {what:<24} {value:>9}  {'PASS' if ok else 'FAIL'}")
    bad = [r for r in results if r.non2xx or r.errors]
    if bad:
        print("\nsome requests failed: see the non-2xx and errors columns", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
