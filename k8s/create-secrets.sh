#!/usr/bin/env bash
# Creates (or updates) the Kubernetes Secrets the platform reads, from the same .env file as
# docker compose (docker/gen-env.sh > .env). One Secret per Dapr secret name, with one key of
# the same name (what secretstores.kubernetes returns for `<name>`), plus the Dapr API tokens
# and the PostgreSQL/Redis passwords of the bundled servers.
#   k8s/create-secrets.sh .env [namespace]
# With a managed PostgreSQL/Redis/SMTP, set PG_HOST, REDIS_ADDR, SMTP_HOST, SMTP_PORT first.
set -euo pipefail
ENV_FILE=${1:?usage: k8s/create-secrets.sh <env file> [namespace]}
NS=${2:-ecommerce}
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a
PG_HOST=${PG_HOST:-postgres:5432}
REDIS_ADDR=${REDIS_ADDR:-redis:6379}
SMTP_HOST=${SMTP_HOST:-mailpit}
SMTP_PORT=${SMTP_PORT:-1025}

put() {  # put <secret name> <key>=<value>...
  local name=$1; shift
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$NS" create secret generic "$name" "${args[@]}" --dry-run=client -o yaml \
    | kubectl -n "$NS" apply -f -
}

put redis-host "redis-host=$REDIS_ADDR"
put redis-password "redis-password=${REDIS_PASSWORD:?}"
put smtp-host "smtp-host=$SMTP_HOST"
put smtp-port "smtp-port=$SMTP_PORT"
put admin-email "admin-email=${ADMIN_EMAIL:?}"
put admin-password "admin-password=${ADMIN_PASSWORD:?}"
put jwt-key-id "jwt-key-id=${JWT_KEY_ID:?}"
put jwt-private-key "jwt-private-key=$(printf '%s' "${JWT_PRIVATE_KEY_B64:?}" | base64 -d)"
put dapr-api-token "token=${DAPR_API_TOKEN:?}"
# Each app has its own APP_API_TOKEN (what its daprd sends it), derived from APP_API_TOKEN
# like scripts/stack.py does: one app's token does not open another app.
for app in gateway users products orders payments inventory notifications basket web; do
  put "app-api-token-$app" "token=$(printf '%s' "$app" \
    | openssl dgst -sha256 -hmac "${APP_API_TOKEN:?}" -binary | base64 | tr '+/' '-_' | tr -d '=')"
done
init=("POSTGRES_PASSWORD=${POSTGRES_PASSWORD:?}")
for app in users products orders payments inventory notifications; do
  var="${app^^}_DB_PASSWORD"
  password=${!var:?$var is not set in $ENV_FILE}
  put "$app-db-dsn" "$app-db-dsn=postgresql://$app:$password@$PG_HOST/ecommerce_$app"
  init+=("$var=$password")
done
put postgres-init "${init[@]}"
