#!/usr/bin/env bash
# Builds daprd, placement and scheduler of the pinned Dapr release from the Go module
# proxy into .local/dapr/.dapr/bin (the layout the Dapr CLI expects under its runtime
# path), or into the folder given as the only argument (docker/daprd.Dockerfile, the
# tests). Rebuilds only when the pinned version or dapr/runtime/ changes. Static binaries
# (CGO_ENABLED=0): the local stack runs the very binary the distroless image ships.
# Needs Go and git only (the golang image has no python).
#
# Why a copy of the dapr module: cmd/daprd/components has one file built without
# build tags that panics on purpose (zz_notag.go). `go build -overlay` may not touch the
# module cache, so we build against a writable copy where that file is empty, and
# compile only the components dapr/runtime/components registers (see docs/dapr-runtime.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$ROOT/scripts/versions.env"
export CGO_ENABLED=0
if [[ $# -ge 1 ]]; then
  mkdir -p "$1"; OUT=$(cd "$1" && pwd)
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
else
  OUT="$ROOT/.local/dapr/.dapr/bin"
  WORK="$ROOT/.local/dapr-build"
fi
STAMP="$OUT/.stamp"
want="dapr=$DAPR_RUNTIME_VERSION static $(cat "$ROOT"/dapr/runtime/go.mod "$ROOT"/dapr/runtime/go.sum "$ROOT"/dapr/runtime/components/*.go "$ROOT"/dapr/runtime/cmd/*/*.go "$ROOT"/dapr/runtime/patches/*.patch | sha256sum | cut -c1-16)"
if [[ -x "$OUT/daprd" && -x "$OUT/placement" && -x "$OUT/scheduler" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "dapr runtime $DAPR_RUNTIME_VERSION: up to date ($OUT)"
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build the Dapr runtime" >&2; exit 1; }
grep -q "github.com/dapr/dapr v$DAPR_RUNTIME_VERSION" "$ROOT/dapr/runtime/go.mod" || {
  echo "error: dapr/runtime/go.mod does not require github.com/dapr/dapr v$DAPR_RUNTIME_VERSION (scripts/versions.env)" >&2; exit 1; }
echo "building the Dapr runtime v$DAPR_RUNTIME_VERSION (first time: several minutes)..."
start=$(date +%s)
rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"
cp -r "$ROOT/dapr/runtime" "$WORK/module"
cd "$WORK/module"
go mod download "github.com/dapr/dapr"
src=$(go list -m -f '{{.Dir}}' "github.com/dapr/dapr")
cp -r "$src" "$WORK/dapr-src"
chmod -R u+w "$WORK/dapr-src"
printf '// Emptied by scripts/build-dapr.sh: components are registered by dapr/runtime/components.\npackage components\n' \
  > "$WORK/dapr-src/cmd/daprd/components/zz_notag.go"
# Fixes carried until the pinned release has them (each patch says why).
for p in "$ROOT"/dapr/runtime/patches/*.patch; do
  echo "applying $(basename "$p")"
  # The ceiling keeps git from treating the copy as part of this repository.
  GIT_CEILING_DIRECTORIES="$WORK" git -C "$WORK/dapr-src" apply -p1 "$p"
  grep -q "Patched (ecommerce-dapr" "$WORK/dapr-src/$(sed -n 's|^+++ b/||p' "$p" | head -1)" \
    || { echo "error: $(basename "$p") did not apply" >&2; exit 1; }
done
go mod edit -replace "github.com/dapr/dapr=$WORK/dapr-src"
go build -mod=mod -trimpath -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_RUNTIME_VERSION" -o "$OUT/" ./cmd/daprd ./cmd/placement ./cmd/scheduler
echo "$want" > "$STAMP"
echo "built daprd, placement, scheduler in $(( $(date +%s) - start ))s -> $OUT"
