#!/usr/bin/env bash
# Start the whole platform on this machine (called by `make run`).
#   REPLICAS="leads=2 analytics=2"  run more than one replica of a service.
# With one replica each, the stores are SQLite files under var/. Replicas of a service share
# its store, which needs PostgreSQL: then every service gets a local PostgreSQL database
# (crm_<service>, created if missing) unless its <SERVICE>_DATABASE_URL is already set.
set -euo pipefail
cd "$(dirname "$0")/../.."
set -a; source deploy/local/dev.env; set +a
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var

concurrency=""
scaled=0
for pair in ${REPLICAS:-}; do
  name=${pair%%=*}; count=${pair#*=}
  case "$name" in leads|customers|sales|service_desk|analytics|gateway) ;;
    *) echo "run: unknown service '$name' in REPLICAS (leads customers sales service_desk analytics gateway)"; exit 2;;
  esac
  [[ "$count" =~ ^[1-9][0-9]?$ ]] || { echo "run: bad replica count '$pair'"; exit 2; }
  [ "$name" = gateway ] && [ "$count" != 1 ] && { echo "run: one gateway per machine (it binds port $GATEWAY_PORT)"; exit 2; }
  concurrency="${concurrency:+$concurrency,}$name=$count"
  [ "$count" -gt 1 ] && scaled=1
done

if [ $scaled = 1 ]; then
  for svc in leads customers sales service_desk analytics; do
    var="$(echo "$svc" | tr a-z A-Z)_DATABASE_URL"
    if [ -z "${!var:-}" ]; then
      db="crm_$svc"
      psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
        | grep -q 1 || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
      export "$var=postgresql://postgres@127.0.0.1:5432/$db"
    fi
  done
  stores="PostgreSQL databases crm_<service> on 127.0.0.1 (replicas share a store)"
else
  stores="SQLite files under var/"
fi

cat <<EOT

  CRM gateway:  http://127.0.0.1:$GATEWAY_PORT   (API docs: http://127.0.0.1:$GATEWAY_PORT/docs)
  admin login:  $CRM_ADMIN_USER / $CRM_ADMIN_PASSWORD   (development values from deploy/local/dev.env)
  metrics:      gateway /metrics; services on 9101-9105 (replica n: +10 per replica)
  replicas:     ${concurrency:-one of each}
  stores:       $stores
  Ctrl-C stops everything.

EOT
exec honcho start -f deploy/local/Procfile -d . ${concurrency:+-c "$concurrency"}
