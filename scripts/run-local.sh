#!/usr/bin/env bash
# Runs PgEgress on this machine with a local default: a throwaway PostgreSQL cluster with logical WAL and the
# demo database (scripts/local-cluster.sh), the demo schema "public" published, files written to ./pgegress-output.
# With --azurite the files go to a local Azurite (installed from package.json) instead.
# Ctrl-C stops PgEgress, then the cluster (and Azurite) this script started.
#
#   scripts/run-local.sh [--azurite]
#
# Environment: PGEGRESS_LOCAL_PG_PORT (default 54329), PGEGRESS_PORT (HTTP, default 7071), and any PgEgress__* setting.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
azurite=false
case "${1:-}" in
  --azurite) azurite=true ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

log() { printf 'run-local: %s\n' "$*" >&2; }
azurite_pid="" host_pid=""
cleanup() {
  trap - EXIT INT TERM
  # The host first: it acknowledges what it staged while the cluster is still up.
  if [[ -n $host_pid ]]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
  if [[ -n $azurite_pid ]]; then kill "$azurite_pid" 2>/dev/null || true; wait "$azurite_pid" 2>/dev/null || true; fi
  scripts/local-cluster.sh stop .pgegress/pg || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

source_cs=$(scripts/local-cluster.sh start .pgegress/pg)
export PgEgress__Source__ConnectionString="${PgEgress__Source__ConnectionString:-$source_cs}"
export PgEgress__Source__Schemas__0="${PgEgress__Source__Schemas__0:-public}"
export PgEgress__Api__Key="${PgEgress__Api__Key:-local-dev-key-change-me}"
export PgEgress__WorkDirectory="${PgEgress__WorkDirectory:-$root/.pgegress/work}"

if $azurite; then
  [[ -x node_modules/.bin/azurite-blob ]] || npm ci --no-audit --no-fund >&2
  node_modules/.bin/azurite-blob --inMemoryPersistence --blobHost 127.0.0.1 --blobPort 10000 --skipApiVersionCheck --loose --silent &
  azurite_pid=$!
  export PgEgress__Storage__Kind=AzureBlob
  export PgEgress__Storage__ConnectionString="${PgEgress__Storage__ConnectionString:-UseDevelopmentStorage=true}"
  log "files go to Azurite (container ${PgEgress__Storage__Container:-pgegress})"
else
  export PgEgress__Storage__Kind=FileSystem
  export PgEgress__Storage__Path="${PgEgress__Storage__Path:-$root/pgegress-output}"
  log "files go to ${PgEgress__Storage__Path}"
fi

port="${PGEGRESS_PORT:-7071}"
log "source: $PgEgress__Source__ConnectionString"
log "API on http://127.0.0.1:$port/api (key: $PgEgress__Api__Key). Try:"
log "  psql '$(printf '%s' "$source_cs" | sed 's/Host=/host=/;s/;Port=/ port=/;s/;Username=/ user=/;s/;Database=/ dbname=/')' -c \"INSERT INTO customers (email, name) VALUES ('new@example.com', 'New')\""
log "  curl -s -X POST -H 'x-functions-key: $PgEgress__Api__Key' http://127.0.0.1:$port/api/flush"
dotnet build src/PgEgress.Host -c Release -v quiet -nologo >&2
dotnet src/PgEgress.Host/bin/Release/net10.0/PgEgress.Host.dll --urls "http://127.0.0.1:$port" &
host_pid=$!
wait "$host_pid"
