#!/usr/bin/env bash
# The run command: install what is missing, start the whole platform in the foreground
# (gateway on http://127.0.0.1:8080, demo catalog seeded) until Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/stack.py" up "$@"
