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
# The local stack allows 10 failed logins per address in a 5 s window (dapr/dapr.yaml).
FAILURES_PER_WINDOW, FAILURE_WINDOW_S = 8, 5.5
# ...and at most 10 guesses of one address in flight (a right one gives its slot back), so
# the login run keeps 8 connections and takes turns over 16 accounts.
LOGINS_IN_FLIGHT, LOGIN_ACCOUNTS = 8, 16

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


def login_script(emails: list[str]) -> str:
    """Logins that take turns over `emails`: every guess holds a slot of its account and of
    the address until it is known right (services/users/throttle.py), so one account from
    one address would be refused, not measured."""
    bodies = ", ".join(lua_string(json.dumps({"email": e, "password": PASSWORD}))
                       for e in emails)
    return (f'wrk.method = "POST"\nlocal bodies = {{{bodies}}}\nlocal n = 0\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            'request = function()\n  n = n % #bodies + 1\n'
            '  return wrk.format(nil, nil, nil, bodies[n])\nend\n' + DONE)


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
    accounts. Each wrong password goes to its own account, and since the gateway believes
    X-Forwarded-For from configured proxies only, every failure counts against this one
    loopback address: they are paced to stay under the local stack's per-address limit
    (USERS_LOGIN_FAILURES_PER_IP in USERS_RATE_WINDOW_SECONDS, dapr/dapr.yaml), so no rate
    limit answers instead of the password check.
    """
    accounts = []
    for _ in range(samples):
        email = f"bench-timing-{uuid.uuid4().hex[:12]}@example.com"
        r = client.post("/api/users/register",
                        json={"email": email, "password": PASSWORD, "name": "Bench"})
        r.raise_for_status()
        accounts.append(email)
    times: dict[str, list[float]] = {"unknown e-mail": [], "wrong password": []}
    window_start, in_window = time.monotonic(), 0
    for i, email in enumerate(accounts):
        attempts = [("unknown e-mail", f"nobody-{uuid.uuid4().hex[:12]}@example.com"),
                    ("wrong password", email)]
        if in_window + len(attempts) > FAILURES_PER_WINDOW:
            time.sleep(max(0.0, window_start + FAILURE_WINDOW_S - time.monotonic()))
            window_start, in_window = time.monotonic(), 0
        in_window += len(attempts)
        for kind, who in attempts if i % 2 == 0 else attempts[::-1]:
            started = time.perf_counter()
            r = client.post("/api/users/login",
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
    parser.add_argument("--timing-samples", type=int, default=16,
                        help="failed logins of each kind for the timing comparison")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (scripts/bootstrap.sh installs it)", file=sys.stderr)
        return 1
    with httpx.Client(base_url=args.gateway, timeout=30) as client:
        if client.get("/health").status_code != 200:
            print(f"the stack at {args.gateway} is not healthy", file=sys.stderr)
            return 1
        emails, token = [], ""
        for _ in range(LOGIN_ACCOUNTS):
            emails.append(f"bench-{uuid.uuid4().hex[:12]}@example.com")
            r = client.post("/api/users/register",
                            json={"email": emails[-1], "password": PASSWORD, "name": "Bench"})
            r.raise_for_status()
            token = r.json()["token"]
        timing = login_timing(client, args.timing_samples)
    time.sleep(FAILURE_WINDOW_S)  # the last failures' window closes before the login run
    login_args = argparse.Namespace(**{**vars(args), "connections":
                                       min(args.connections, LOGINS_IN_FLIGHT)})
    rows = [("POST /api/users/login",
             run_wrk("/api/users/login", login_script(emails), login_args)),
            ("GET /api/users/profile (Bearer)",
             run_wrk("/api/users/profile", profile_script(token), args))]
    print(f"\nwrk -t{args.threads} -c{args.connections} (login: -c{login_args.connections})"
          f" -d{args.duration}s through {args.gateway}\n")
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
