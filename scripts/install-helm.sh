#!/usr/bin/env bash
# Builds the pinned Helm (scripts/versions.env HELM_VERSION) from the Go module proxy into
# .local/bin/helm; the deployment tests (tests/deploy/) lint and render the chart with it.
# Rebuilds only when the pinned version changes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
BIN="$ROOT/.local/bin"
if [[ -x "$BIN/helm" ]] && "$BIN/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "v$HELM_VERSION"; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build Helm" >&2; exit 1; }
echo "building helm v$HELM_VERSION from the Go module proxy (first time: a few minutes)..."
mkdir -p "$BIN"
start=$(date +%s)
# helm's own build stamps the version the same way (Makefile LDFLAGS).
GOBIN="$BIN" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
echo "built helm v$HELM_VERSION in $(( $(date +%s) - start ))s -> $BIN/helm"
