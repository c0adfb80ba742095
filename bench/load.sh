#!/usr/bin/env bash
# The load generator: Locust's shopper and shop-owner journeys (bench/locustfile.py) through
# the gateway, headless, on a freshly started stack (or the running one with --reuse).
#   bench/load.sh [--users 50] [--spawn-rate 10] [--time 2m] [--reuse] [--out .local/load]
# Writes Locust's HTML report (charts) and CSV to the output folder, prints each step's
# requests/s, p50/p95/p99 and failures, and exits 1 if a request failed, an order was left
# pending, or a p95 is over the target (300 ms).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
users=50 rate=10 duration=2m reuse=0 out=.local/load
while (($#)); do
  case $1 in
    --users) users=$2; shift 2 ;;
    --spawn-rate) rate=$2; shift 2 ;;
    --time) duration=$2; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--users N] [--spawn-rate N] [--time 2m] [--reuse] [--out DIR]" >&2; exit 2 ;;
  esac
done
scripts/bootstrap.sh >/dev/null
.venv/bin/python -c 'import locust, matplotlib' 2>/dev/null \
  || .venv/bin/pip install -q --disable-pip-version-check -e '.[dev,bench]'
if ((reuse == 0)); then
  .venv/bin/python scripts/stack.py up --detach
  trap '.venv/bin/python scripts/stack.py down' EXIT
fi
mkdir -p "$out"
set +e
.venv/bin/locust -f bench/locustfile.py --host http://127.0.0.1:8080 --headless \
  --users "$users" --spawn-rate "$rate" --run-time "$duration" --stop-timeout 30 \
  --html "$out/report.html" --csv "$out/load" --only-summary --loglevel WARNING
rc=$?
set -e
.venv/bin/python bench/load_summary.py "$out/load_stats.csv" || rc=1
echo "report: $out/report.html"
exit $rc
