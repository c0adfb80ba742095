#!/usr/bin/env bash
# The long schema-driven run of the public API: the suite's contract tests
# (tests/contract/test_public_api_schema.py, every schemathesis check) with fresh randomness
# and more cases: FUZZ_EXAMPLES generated cases per operation, positive and negative, on top
# of its examples and coverage cases (default 100), and FUZZ_SCENARIOS stateful scenarios
# that follow the OpenAPI links (default 200). Needs the running stack
# (.venv/bin/python scripts/stack.py up --detach). Figures: bench/README.md.
#   scripts/fuzz.sh                                   # 100 per operation, 200 scenarios
#   FUZZ_EXAMPLES=500 FUZZ_SCENARIOS=1000 scripts/fuzz.sh
#   FUZZ_OPERATIONS='PATCH /api/products' scripts/fuzz.sh   # some operations only
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-100} FUZZ_SCENARIOS=${FUZZ_SCENARIOS:-200} \
  FUZZ_RANDOM=${FUZZ_RANDOM:-1} ECOMMERCE_REUSE_STACK=1
exec scripts/test.sh tests/contract -q -s -p no:cacheprovider --timeout=3600 "$@"
