#!/usr/bin/env bash
# The platform under the real Dapr CLI, where one is installed (it cannot be from this
# project's package sources; see docs/dapr-runtime.md): the same set-up as scripts/run.sh,
# the backing servers from scripts/stack.py, then `dapr run -f dapr/dapr.yaml` with the
# project's daprd and the API tokens that the apps and their sidecars require.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v dapr >/dev/null || { echo "error: the Dapr CLI (dapr) is not on PATH; use scripts/run.sh" >&2; exit 1; }
scripts/bootstrap.sh
.venv/bin/python scripts/stack.py up --servers-only
secret() { .venv/bin/python -c 'import json,sys; print(json.load(open(".local/secrets.json"))[sys.argv[1]])' "$1"; }
# daprd inherits the CLI's environment and the apps get it too: both tokens reach both sides.
APP_API_TOKEN=$(secret app-api-token)
DAPR_API_TOKEN=$(secret dapr-api-token)
export APP_API_TOKEN DAPR_API_TOKEN
export DAPR_RUNTIME_PATH="$ROOT/.local/dapr"
# The sidecars announce loopback, like the servers stack.py started (DAPR_HOST_ENV there).
export DAPR_HOST_IP=127.0.0.1
exec dapr run -f dapr/dapr.yaml
