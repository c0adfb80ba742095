#!/usr/bin/env bash
# Run every benchmark in bench/, one after the other, against the running stack
# (.venv/bin/python scripts/stack.py up --detach). Arguments are not passed on: each bench
# runs with its defaults (see bench/README.md for the knobs of each).
#   bench/run_all.sh              # all of them
#   bench/run_all.sh gateway auth # only these (bench_<name>.py)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health)" != 200 ]]; then
  echo "error: the stack is not ready; start it with .venv/bin/python scripts/stack.py up --detach" >&2
  exit 2
fi
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then  # every bench/bench_<name>.py
  for f in bench/bench_*.py; do names+=("$(basename "$f" .py | sed 's/^bench_//')"); done
fi
for name in "${names[@]}"; do
  [[ -f "bench/bench_${name}.py" ]] || { echo "error: no bench named '$name' (bench/bench_${name}.py)" >&2; exit 2; }
done
failed=()
for name in "${names[@]}"; do
  script="bench/bench_${name}.py"
  echo "== $script"
  start=$(date +%s)
  if ! .venv/bin/python "$script"; then
    failed+=("$name")
  fi
  echo "== $script: $(( $(date +%s) - start )) s"
  echo
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
