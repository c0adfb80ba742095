#!/usr/bin/env bash
# The test command: the same set-up as scripts/run.sh, then the whole test suite against
# the real stack (tests/conftest.py starts it once and stops it at the end).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/unit -x
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/bootstrap.sh
mkdir -p .local
# One suite at a time on this machine: the stack uses fixed ports.
exec 9>.local/test.lock
flock 9
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "error: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit $rc
