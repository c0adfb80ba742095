#!/bin/sh
# One database and one role per service, each database owned by its role and closed to
# everyone else. Run once by the postgres image on an empty data directory
# (/docker-entrypoint-initdb.d/); k8s/ and the Helm chart ship the same file.
# Needs <APP>_DB_PASSWORD for every app below; values are passed to psql as variables,
# so no quoting of the password can break the SQL.
set -eu
for app in users products orders payments inventory notifications; do
  var="$(printf '%s' "$app" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  eval "password=\${$var:-}"
  if [ -z "$password" ]; then
    echo "init-databases: $var is not set" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v app="$app" -v db="ecommerce_$app" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'app')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
  echo "init-databases: database ecommerce_$app owned by role $app"
done
