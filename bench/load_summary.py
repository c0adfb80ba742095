"""Prints the Locust run's steps (requests/s, p50/p95/p99, failures) from its CSV and checks
the targets of the load run: no failed request, every step's p95 under 300 ms."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

P95_TARGET_MS = 300.0


def main(path: Path) -> int:
    rows = list(csv.DictReader(path.open()))
    print(f"{'step':52} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'fail':>5}")
    missed = []
    for row in rows:
        name = f"{row['Type']} {row['Name']}".strip() if row["Name"] != "Aggregated" else "all"
        p95 = float(row["95%"] or 0)
        fails = int(row["Failure Count"])
        print(f"{name[:52]:52} {float(row['Requests/s']):7.1f} {row['50%']:>6} {row['95%']:>6}"
              f" {row['99%']:>6} {fails:5d}")
        if fails:
            missed.append(f"{name}: {fails} failed")
        if row["Name"] != "Aggregated" and p95 > P95_TARGET_MS:
            missed.append(f"{name}: p95 {p95:.0f} ms > {P95_TARGET_MS:.0f} ms")
    for line in missed:
        print(f"MISSED {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
