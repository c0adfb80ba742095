#!/usr/bin/env bash
# The longer schema-driven run of the public API: the suite's contract test with many more
# generated cases per operation (FUZZ_EXAMPLES, default 200) and fresh randomness each run.
# Needs the running stack (.venv/bin/python scripts/stack.py up --detach).
#   scripts/fuzz.sh                  # 200 cases per operation
#   FUZZ_EXAMPLES=1000 scripts/fuzz.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-200} FUZZ_RANDOM=${FUZZ_RANDOM:-1} ECOMMERCE_REUSE_STACK=1
exec scripts/test.sh tests/contract -q -p no:cacheprovider --timeout=3600 "$@"
