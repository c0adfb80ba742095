"""Benchmark of authentication through the gateway with wrk: POST /api/users/login
(argon2id verification dominates) and an authenticated GET /api/users/profile (ES256
verification at the gateway, Dapr invocation, one primary-key read).

Run against a running stack (`scripts/stack.py up --detach`):

    .venv/bin/python bench/bench_auth.py [--duration 10] [--connections 16] [--threads 2]
                                         [--timing-samples 30]

Prints one row per endpoint: requests per second, p50 and p99 latency, non-2xx answers.
Then failed logins one at a time, an unknown e-mail against a wrong password, side by
side: the ratio of their medians should be about 1 (the same argon2 work either way).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def login_timing(client: httpx.Client, samples: int) -> dict[str, list[float]]:
    """Failed logins, one at a time: an unknown e-mail against a known one with the wrong
    password, interleaved (which goes first alternates), in milliseconds.

    Both must cost one argon2 verification, or the time tells an attacker which e-mails have
    accounts. Each request comes from its own address (X-Forwarded-For, trusted from
    loopback) and each wrong password goes to its own account, so no rate limit answers
    instead of the password check.
    """
    def address(i: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"10.77.{i // 250}.{i % 250 + 1}"}

    accounts = []
    for i in range(samples):
        email = f"bench-timing-{uuid.uuid4().hex[:12]}@example.com"
        r = client.post("/api/users/register", headers=address(i),
                        json={"email": email, "password": PASSWORD, "name": "Bench"})
        r.raise_for_status()
        accounts.append(email)
    times: dict[str, list[float]] = {"unknown e-mail": [], "wrong password": []}
    for i, email in enumerate(accounts):
        attempts = [("unknown e-mail", f"nobody-{uuid.uuid4().hex[:12]}@example.com"),
                    ("wrong password", email)]
        for n, (kind, who) in enumerate(attempts if i % 2 == 0 else attempts[::-1]):
            started = time.perf_counter()
            r = client.post("/api/users/login", headers=address(samples + 2 * i + n),
                            json={"email": who, "password": "not the password 0123"})
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code != 401:
                raise RuntimeError(f"{kind}: expected 401, got {r.status_code} {r.text[:200]}")
            times[kind].append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default=GATEWAY)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-samples", type=int, default=30,
                        help="failed logins of each kind for the timing comparison")
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
        timing = login_timing(client, args.timing_samples)
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
    medians = {kind: statistics.median(ms) for kind, ms in timing.items()}
    print(f"\nFailed logins, {args.timing_samples} of each kind, one at a time, interleaved:\n")
    print("| failed login | p50 ms | p90 ms |")
    print("|---|---:|---:|")
    for kind, ms in timing.items():
        print(f"| {kind} | {medians[kind]:.1f} | "
              f"{statistics.quantiles(ms, n=10)[-1]:.1f} |")
    print(f"\nunknown e-mail / wrong password, p50: "
          f"{medians['unknown e-mail'] / medians['wrong password']:.2f}")
    return 0 if all(s["non2xx"] == 0 and s["socket_errors"] == 0 for _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
