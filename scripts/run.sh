#!/usr/bin/env bash
# The run command: install what is missing, start the whole platform in the foreground
# (gateway on http://127.0.0.1:8080, demo catalog seeded) until Ctrl-C. Takes the options of
# `stack.py up`: --observe (Prometheus on http://127.0.0.1:19090), --replicas orders=2,...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# --observe also needs Prometheus installed.
if [[ " $* " == *" --observe "* ]]; then "$ROOT/scripts/bootstrap.sh" --observe
else "$ROOT/scripts/bootstrap.sh"; fi
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/stack.py" up "$@"
