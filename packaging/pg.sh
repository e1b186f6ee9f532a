#!/bin/sh
# A private PostgreSQL cluster in a directory of the project (var/pg for the
# demo, a temporary one for the tests). As root it runs the server as the
# unprivileged 'postgres' user, since initdb and postgres refuse root.
# It listens on a Unix socket inside the directory only, so clusters never
# fight over ports.
#   packaging/pg.sh start DIR   create when missing, start, create roles and db
#   packaging/pg.sh stop DIR    stop (fast)
#   packaging/pg.sh env DIR     print the AANTAFEL_* database variables
#   packaging/pg.sh psql DIR [ARGS]   psql as the superuser
# AANTAFEL_PG_THROWAWAY=1 makes a cluster for tests: no fsync, and WAL in
# 1 MB segments with a small floor, so that it takes a few megabytes of
# disk rather than a hundred (the defaults keep 80 MB of WAL).
set -eu

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|env|psql DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
run="$dir/run"

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "PostgreSQL server binaries not found; run packaging/deps.sh" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

env_lines() {
  echo "AANTAFEL_DATABASE_URL='host=$run dbname=aantafel user=aantafel_app'"
  echo "AANTAFEL_OWNER_DATABASE_URL='host=$run dbname=aantafel user=aantafel_owner'"
  echo "AANTAFEL_PG_SUPERUSER_URL='host=$run dbname=aantafel user=postgres'"
}

case "$cmd" in
start)
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "no 'postgres' user; install postgresql-15" >&2; exit 1; }
    chown postgres: "$dir"
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    throwaway=${AANTAFEL_PG_THROWAWAY:-}
    walopt=; durable=on
    if [ -n "$throwaway" ]; then walopt=--wal-segsize=1; durable=off; fi
    as_owner mkdir -p "$data" "$run"
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 $walopt \
      >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; df -h "$dir" >&2; exit 1; }
    cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$run'
unix_socket_permissions = 0700
max_connections = 200
fsync = $durable
full_page_writes = $durable
logging_collector = off
log_min_messages = warning
CONF
    if [ -n "$throwaway" ]; then
      printf 'min_wal_size = 4MB\nmax_wal_size = 32MB\n' >> "$data/postgresql.conf"
    fi
    fresh=1
  else
    fresh=0
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgresql.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$dir/postgresql.log" >&2; exit 1; }
  fi
  if [ "$fresh" = 1 ]; then
    # The owner role runs migrations and owns every object; the app role
    # is what the daemon connects as: it owns nothing and cannot bypass
    # row-level security.
    as_owner "$bindir/psql" -q -h "$run" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE aantafel_owner LOGIN;
CREATE ROLE aantafel_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE DATABASE aantafel OWNER aantafel_owner;
REVOKE ALL ON DATABASE aantafel FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE aantafel TO aantafel_app;
\c aantafel
ALTER SCHEMA public OWNER TO aantafel_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO aantafel_app;
SQL
  fi
  # Full-text matching may use its index under row-level security only
  # when the operator's function is leakproof (it raises no error that
  # depends on the row); only a superuser can say so. Every start, so
  # that a cluster made before this line gets it too.
  as_owner "$bindir/psql" -q -h "$run" -U postgres -d aantafel -v ON_ERROR_STOP=1 \
    -c "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF" >/dev/null
  env_lines
  ;;
stop)
  if [ -s "$data/PG_VERSION" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
env)
  env_lines
  ;;
psql)
  shift 2
  as_owner "$bindir/psql" -h "$run" -U postgres -d aantafel "$@"
  ;;
*)
  echo "usage: $0 start|stop|env|psql DIR" >&2; exit 2 ;;
esac
