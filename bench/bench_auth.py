"""Benchmark of authentication through the gateway with wrk: POST /api/users/login
(argon2id verification dominates) and an authenticated GET /api/users/profile (ES256
verification at the gateway, Dapr invocation, one primary-key read).

Run against a running stack (`scripts/stack.py up --detach`):

    .venv/bin/python bench/bench_auth.py [--duration 10] [--connections 16] [--threads 2]

Prints one row per endpoint: requests per second, p50 and p99 latency, non-2xx answers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

GATEWAY = "http://127.0.0.1:8080"
PASSWORD = "bench password 0123"  # noqa: S105 (a throwaway bench account)

DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    '\\nBENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def login_script(email: str) -> str:
    body = json.dumps({"email": email, "password": PASSWORD})
    return (f'wrk.method = "POST"\nwrk.body = {lua_string(body)}\n'
            'wrk.headers["Content-Type"] = "application/json"\n' + DONE)


def profile_script(token: str) -> str:
    return f'wrk.method = "GET"\nwrk.headers["Authorization"] = {lua_string("Bearer " + token)}\n' \
        + DONE


def run_wrk(path: str, script: str, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
             "--timeout", "10s", "-s", fh.name, f"{args.gateway}{path}"],
            check=True, capture_output=True, text=True).stdout
    finally:
        Path(fh.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    stats: dict[str, float] = json.loads(line[len("BENCH "):])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default=GATEWAY)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 1
    with httpx.Client(base_url=args.gateway, timeout=30) as client:
        if client.get("/health").status_code != 200:
            print(f"the stack at {args.gateway} is not healthy", file=sys.stderr)
            return 1
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        r = client.post("/api/users/register",
                        json={"email": email, "password": PASSWORD, "name": "Bench"})
        r.raise_for_status()
        token = r.json()["token"]
    rows = [("POST /api/users/login", run_wrk("/api/users/login", login_script(email), args)),
            ("GET /api/users/profile (Bearer)",
             run_wrk("/api/users/profile", profile_script(token), args))]
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s "
          f"through {args.gateway}\n")
    print("| endpoint | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s['rps']:.0f} | {s['p50_us'] / 1000:.1f} | "
              f"{s['p99_us'] / 1000:.1f} | {s['non2xx']:.0f} | {s['socket_errors']:.0f} |")
    return 0 if all(s["non2xx"] == 0 and s["socket_errors"] == 0 for _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
