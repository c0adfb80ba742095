#!/usr/bin/env bash
# Installs what the platform needs on this machine, idempotently:
#   - PostgreSQL and Redis servers (Debian packages) when they are missing,
#   - the Python virtualenv in .venv with the pinned dependencies,
#   - the pinned Dapr runtime built from the Go module proxy (scripts/build-dapr.sh),
#   - Prometheus (Debian's package) for `scripts/run.sh --observe`: required with
#     `--observe`, otherwise installed along when root is at hand (the suite checks it).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=versions.env
source scripts/versions.env
say() { printf '[bootstrap %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# Two runs at once (two test commands, say) would install and build over each other.
mkdir -p .local
exec 8>.local/bootstrap.lock
flock 8

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@";
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@";
  else echo "error: '$*' needs root (or passwordless sudo); install it once and rerun" >&2; exit 1; fi
}

# 1. system packages ------------------------------------------------------------------------
need=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=("postgresql-$POSTGRES_MAJOR")
command -v redis-server >/dev/null || need+=(redis-server)
# wrk is for bench/ only: installed along when root is at hand, never a reason to need it.
if ! command -v wrk >/dev/null; then
  if ((${#need[@]})) || [[ $(id -u) -eq 0 ]] || sudo -n true 2>/dev/null; then need+=(wrk)
  else say "wrk is not installed (only bench/ needs it: apt-get install wrk)"; fi
fi
# Debian's chromium for the browser tests (tests/e2e, Playwright's executable_path): a
# browser download by `playwright install` cannot work offline, a Debian package can.
if [[ ! -x /usr/bin/chromium ]]; then
  if ((${#need[@]})) || [[ $(id -u) -eq 0 ]] || sudo -n true 2>/dev/null; then need+=(chromium)
  else say "chromium is not installed (only tests/e2e needs it: apt-get install chromium)"; fi
fi
if ! command -v prometheus >/dev/null; then
  if [[ " $* " == *" --observe "* ]] || ((${#need[@]})) || [[ $(id -u) -eq 0 ]] \
     || sudo -n true 2>/dev/null; then need+=(prometheus)
  else say "prometheus is not installed (only --observe needs it: apt-get install prometheus)"; fi
fi
if ((${#need[@]})); then
  say "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # The packages' own services are not used (the stack runs its own on other ports).
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

# 2. Python ---------------------------------------------------------------------------------
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
stamp=$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -x .venv/bin/python || "$(cat .venv/.stamp 2>/dev/null)" != "$stamp" ]]; then
  say "installing Python dependencies into .venv"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$stamp" > .venv/.stamp
fi

# 3. Dapr runtime ---------------------------------------------------------------------------
scripts/build-dapr.sh  # (tests/deploy builds the pinned Helm itself when it first needs it)
say "ready"
