"""The gateway hop: GET /health of one service, direct versus through the gateway and both
Dapr sidecars, in one run, printed as a table with the ratio (issue 3, item 9).

    .venv/bin/python bench/bench_gateway.py                 # products, 10 s per phase
    .venv/bin/python bench/bench_gateway.py --service users --duration 20 --connections 32
    .venv/bin/python bench/bench_gateway.py --check         # exit 1 when a target is missed

Needs the running stack (`scripts/stack.py up --detach`) and `wrk`. Three targets:

- direct:   http://127.0.0.1:<service port>/health (the service's liveness, no sidecar)
- sidecars: the gateway's daprd invoking the service (two daprd hops, no gateway process)
- gateway:  http://127.0.0.1:8080/api/<service>/health (gateway, both daprds, the service)

Each target gets a throughput phase (`--connections` concurrent connections: requests per
second, p50 and p99 under load) and a latency phase (one connection: p50 and p99 of a lone
request). The targets: gateway throughput >= half of direct, and < 2 ms added at p50 (the
one-connection p50, where the difference is the hop's own cost, not queueing).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402  (scripts/stack.py: ports and secrets of the local stack)

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class Phase:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Result:
    name: str
    url: str
    load: Phase
    single: Phase


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"cannot parse a wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> Phase:
    """Requests/sec, p50, p99 and the error count from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      output):
        errors += sum(int(x) for x in m.groups())
    return Phase(rps, p50, p99, errors)


def wrk(url: str, *, connections: int, duration: int, threads: int,
        headers: dict[str, str]) -> Phase:
    argv = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration}s",
            "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True,
                         timeout=duration + 30).stdout
    return parse_wrk(out)


def measure(name: str, url: str, args: argparse.Namespace,
            headers: dict[str, str] | None = None) -> Result:
    headers = headers or {}
    wrk(url, connections=args.connections, duration=2, threads=args.threads,
        headers=headers)  # warm-up: connection pools, JIT-free but caches and sockets
    load = wrk(url, connections=args.connections, duration=args.duration, threads=args.threads,
               headers=headers)
    single = wrk(url, connections=1, duration=max(3, args.duration // 2), threads=1,
                 headers=headers)
    return Result(name, url, load, single)


def table(results: list[Result], connections: int) -> str:
    head = (f"{'target':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   "
            f"{'1-conn p50':>10} {'1-conn p99':>10} {'errors':>7}")
    lines = [f"under load: {connections} connections; 1-conn: one connection", head,
             "-" * len(head)]
    for r in results:
        lines.append(f"{r.name:<10} {r.load.rps:>9.0f} {r.load.p50_ms:>8.2f} "
                     f"{r.load.p99_ms:>8.2f}   {r.single.p50_ms:>10.2f} "
                     f"{r.single.p99_ms:>10.2f} {r.load.errors + r.single.errors:>7}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="products")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2 cores here)")
    parser.add_argument("--no-sidecars", action="store_true",
                        help="skip the sidecars-only breakdown row")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 2
    code, _ = stack.http_get(f"{stack.GATEWAY_URL}/health")
    if code != 200:
        print(f"error: the stack is not ready ({stack.GATEWAY_URL}/health answered {code}); "
              "start it with .venv/bin/python scripts/stack.py up --detach", file=sys.stderr)
        return 2
    app = stack.app_by_id(args.service)
    gateway = stack.app_by_id("gateway")
    results = [measure("direct", f"http://127.0.0.1:{app.port}/health", args)]
    if not args.no_sidecars:
        token = json.loads(stack.SECRETS_FILE.read_text())["dapr-api-token"]
        results.append(measure(
            "sidecars",
            f"http://127.0.0.1:{gateway.dapr_http}/v1.0/invoke/{args.service}/method/health",
            args, {"dapr-api-token": token}))
    results.append(measure("gateway", f"{stack.GATEWAY_URL}/api/{args.service}/health", args))
    direct, via = results[0], results[-1]
    ratio = via.load.rps / direct.load.rps if direct.load.rps else 0.0
    added_p50 = via.single.p50_ms - direct.single.p50_ms
    print(f"\nGET /health of {args.service} ({time.strftime('%Y-%m-%d %H:%M:%S')})")
    print(table(results, args.connections))
    print(f"\nratio gateway/direct throughput: {ratio:.2f}   (target >= 0.50: "
          f"{'PASS' if ratio >= 0.5 else 'FAIL'})")
    print(f"added p50 (1 connection):        {added_p50:.3f} ms (target < 2 ms: "
          f"{'PASS' if added_p50 < 2.0 else 'FAIL'})")
    if args.json:
        args.json.write_text(json.dumps({"service": args.service, "ratio": ratio,
                                         "added_p50_ms": added_p50,
                                         "results": [asdict(r) for r in results]}, indent=2))
    errors = sum(r.load.errors + r.single.errors for r in results)
    if errors:
        print(f"warning: {errors} failed requests (non-2xx or socket errors)")
    if args.check and (ratio < 0.5 or added_p50 >= 2.0 or errors):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
