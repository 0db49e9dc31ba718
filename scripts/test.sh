#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine. It installs what is missing (the npm packages that bring Azurite;
# the PostgreSQL server and Debian's chromium for the status page tests, when running as root without them; Debian's
# clickhouse-server, extracted into .cache/clickhouse); the tests themselves start and stop their own
# throwaway PostgreSQL clusters and Azurite. Extra arguments go to `dotnet test` (e.g. --filter Storage).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { printf 'test: %s\n' "$*" >&2; }

have_postgres() {
  local bin
  bin=$(pg_config --bindir 2>/dev/null) && [[ -x $bin/initdb ]] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
if ! have_postgres; then
  [[ $(id -u) -eq 0 ]] || { log "no PostgreSQL server found; install postgresql (15 or later) and retry"; exit 1; }
  log "installing the PostgreSQL server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
# The status page tests drive a headless Chromium (PGEGRESS_CHROMIUM names another binary).
if [[ -z ${PGEGRESS_CHROMIUM:-} ]] && ! command -v chromium >/dev/null; then
  [[ $(id -u) -eq 0 ]] || { log "no chromium found; install Debian's chromium package (or set PGEGRESS_CHROMIUM) and retry"; exit 1; }
  log "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The ClickHouse sink tests start Debian's clickhouse-server, extracted into .cache/clickhouse (PGEGRESS_CLICKHOUSE_ROOT names another).
if [[ -z ${PGEGRESS_CLICKHOUSE_ROOT:-} && ! -x .cache/clickhouse/root/usr/sbin/clickhouse-server ]]; then
  log "obtaining clickhouse-server"
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; fi
  scripts/clickhouse.sh
fi
if [[ ! -x node_modules/.bin/azurite-blob ]]; then
  log "installing npm packages (Azurite)"
  npm ci --no-audit --no-fund >&2
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
dotnet test PgEgress.slnf -c Release "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oP '^\S+!\s+- Failed:\s+\d+, Passed:\s+\K\d+' "$out" | awk '{ s += $1 } END { print s + 0 }')
failed=$(grep -oP '^\S+!\s+- Failed:\s+\K\d+' "$out" | awk '{ s += $1 } END { print s + 0 }')
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
