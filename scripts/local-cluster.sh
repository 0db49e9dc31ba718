#!/usr/bin/env bash
# A local PostgreSQL cluster for running PgEgress on this machine: wal_level=logical, TCP on 127.0.0.1 only,
# trust authentication, and a demo database (pgegress_demo) to replicate from.
#
#   scripts/local-cluster.sh start  [DIR]  initialise DIR once, start the server, create the demo database once;
#                                           prints the demo database's connection string on stdout
#   scripts/local-cluster.sh stop   [DIR]  stop the server (fast shutdown)
#   scripts/local-cluster.sh status [DIR]  print the connection string when running; exit 0 running, 3 stopped,
#                                           4 not initialised (as pg_ctl status)
#
# DIR defaults to ./.pgegress/pg and holds data/ (the cluster) and server.log. The port is 54329, or
# PGEGRESS_LOCAL_PG_PORT (applied at each start). Every command is idempotent. Messages go to stderr.
#
# PostgreSQL refuses to run as root, so as root the server runs as the postgres account and DIR is owned by it.
# When postgres cannot reach DIR (e.g. it is under /root), the cluster lives in /tmp/pgegress-local-<hash of DIR>
# and DIR is a symlink to it; /tmp may be emptied at reboot, after which start initialises a fresh cluster.
# The publication and the replication slot are not created here: PgEgress creates them.
set -euo pipefail

readonly DEMO_DB=pgegress_demo
port="${PGEGRESS_LOCAL_PG_PORT:-54329}"

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Runs a command as the server account. From "/" because the caller's directory (e.g. /root) may be closed to postgres.
as_server() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

find_bin_dir() {
  local dir
  # pg_config may belong to another version (libpq-dev) than the installed server: check for initdb.
  if dir=$(pg_config --bindir 2>/dev/null) && [[ -x $dir/initdb ]]; then
    printf '%s\n' "$dir"; return
  fi
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/initdb ]] || die "no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin)"
  printf '%s\n' "$dir"
}

# Prints the real directory behind DIR (following our /tmp symlink), or nothing when DIR does not exist.
existing_workspace() {
  local dir=$1
  if [[ -L $dir ]]; then readlink -f -- "$dir"
  elif [[ -d $dir ]]; then printf '%s\n' "$dir"
  fi
}

server_can_reach() { ! is_root || as_server test -x "$1"; }

# Creates DIR (or its /tmp stand-in) for a new cluster, owned by the server account, and prints the real directory.
create_workspace() {
  local dir=$1 real parent
  parent=$(dirname -- "$dir")
  if [[ -L $dir ]]; then
    real=$(readlink -f -- "$dir")        # the symlink survived a reboot that emptied /tmp
  else
    mkdir -p -- "$parent"
    if server_can_reach "$parent"; then
      real=$dir
    else
      real=/tmp/pgegress-local-$(printf '%s' "$dir" | sha256sum | cut -c1-12)
      [[ ! -e $dir ]] || rmdir -- "$dir" 2>/dev/null || die "$dir is not reachable by the postgres account and not empty"
      ln -s -- "$real" "$dir"
      log "postgres cannot reach $parent: the cluster lives in $real ($dir links to it)"
    fi
  fi
  mkdir -p -- "$real"
  chmod 700 -- "$real"
  if is_root; then chown postgres:postgres -- "$real"; fi
  printf '%s\n' "$real"
}

is_initialised() { [[ -n $1 && -f $1/data/PG_VERSION ]]; }

is_running() { as_server "$bin/pg_ctl" status -D "$1/data" >/dev/null 2>&1; }

# The port of the running server, from line 4 of postmaster.pid.
running_port() { sed -n 4p "$1/data/postmaster.pid"; }

connection_string() { printf 'Host=127.0.0.1;Port=%s;Username=postgres;Database=%s\n' "$1" "$DEMO_DB"; }

write_settings() {
  local data=$1/data conf=$1/data/pgegress-local.conf
  cat > "$conf" <<EOF
# Written by scripts/local-cluster.sh at each start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''   # TCP only: socket paths under DIR could exceed the 107-byte limit
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
logging_collector = off
EOF
  if is_root; then chown postgres:postgres -- "$conf"; fi
  grep -qx "include 'pgegress-local.conf'" "$data/postgresql.conf" ||
    printf "\ninclude 'pgegress-local.conf'\n" >> "$data/postgresql.conf"
}

psql_at() {
  local db=$1; shift
  # client_min_messages: keep NOTICEs such as "database does not exist, skipping" out of the output.
  as_server env PGOPTIONS='-c client_min_messages=warning' "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(running_port "$ws")" -U postgres -d "$db" "$@"
}

# Built under a temporary name and renamed at the end, so that an interrupted run leaves no half-made demo database.
create_demo_database() {
  if [[ -n $(psql_at postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DEMO_DB'") ]]; then return; fi
  log "creating the demo database $DEMO_DB"
  psql_at postgres -c "DROP DATABASE IF EXISTS ${DEMO_DB}_init" -c "CREATE DATABASE ${DEMO_DB}_init"
  psql_at "${DEMO_DB}_init" --single-transaction <<'SQL'
CREATE TABLE public.customers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES public.customers (id),
    status      text NOT NULL,
    total       numeric(12, 2) NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    ordered_at  timestamptz NOT NULL DEFAULT now()
);
-- No key: PgEgress keys its rows on all columns, which needs REPLICA IDENTITY FULL.
CREATE TABLE public.events (
    occurred_at timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    payload     jsonb
);
ALTER TABLE public.events REPLICA IDENTITY FULL;

INSERT INTO public.customers (email, name)
SELECT format('customer%s@example.com', i), format('Customer %s', i) FROM generate_series(1, 10) AS i;
INSERT INTO public.orders (customer_id, status, total, details)
SELECT 1 + i % 10,
       (ARRAY['new', 'paid', 'shipped'])[1 + i % 3],
       round((i * 7.25)::numeric, 2),
       jsonb_build_object('items', i % 4 + 1, 'gift', i % 5 = 0, 'note', format('order %s', i))
FROM generate_series(1, 25) AS i;
INSERT INTO public.events (kind, payload)
SELECT (ARRAY['login', 'view', 'logout'])[1 + i % 3], jsonb_build_object('seq', i)
FROM generate_series(1, 20) AS i;
SQL
  psql_at postgres -c "ALTER DATABASE ${DEMO_DB}_init RENAME TO $DEMO_DB"
}

start() {
  ws=$(existing_workspace "$dir")
  if ! is_initialised "$ws"; then
    ws=$(create_workspace "$dir")
    log "initialising a cluster in $ws/data"
    if ! as_server "$bin/initdb" -D "$ws/data" -U postgres -A trust -E UTF8 --locale=C > "$ws/initdb.log" 2>&1; then
      cat "$ws/initdb.log" >&2
      die "initdb failed"
    fi
  fi
  if is_running "$ws"; then
    [[ $(running_port "$ws") == "$port" ]] ||
      log "already running on port $(running_port "$ws"), not $port: stop it to change the port"
  else
    write_settings "$ws"
    log "starting on port $port (log: $ws/server.log)"
    if ! as_server "$bin/pg_ctl" start -D "$ws/data" -l "$ws/server.log" -w -t 60 >&2; then
      tail -n 30 "$ws/server.log" >&2 || true
      die "the server did not start"
    fi
  fi
  create_demo_database
  connection_string "$(running_port "$ws")"
}

stop() {
  ws=$(existing_workspace "$dir")
  if ! is_initialised "$ws"; then log "no cluster in $dir"; return; fi
  if is_running "$ws"; then
    as_server "$bin/pg_ctl" stop -D "$ws/data" -m fast -w -t 60 >&2
  else
    log "not running"
  fi
}

status() {
  ws=$(existing_workspace "$dir")
  if ! is_initialised "$ws"; then log "no cluster in $dir"; exit 4; fi
  if is_running "$ws"; then
    log "running (pid $(sed -n 1p "$ws/data/postmaster.pid"), data $ws/data)"
    connection_string "$(running_port "$ws")"
  else
    log "stopped (data $ws/data)"
    exit 3
  fi
}

[[ $# -ge 1 && $# -le 2 ]] || usage
[[ $port =~ ^[0-9]+$ ]] || die "PGEGRESS_LOCAL_PG_PORT must be a number, not '$port'"
dir=$(realpath -ms -- "${2:-./.pgegress/pg}")   # absolute and normalised, symlinks kept (DIR may be ours)
bin=$(find_bin_dir)
ws=""
case $1 in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
