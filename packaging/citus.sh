#!/bin/sh
# A private Citus cluster for tests and trials: a coordinator and two
# workers, each a PostgreSQL 15 cluster like packaging/pg.sh's, in one
# directory. Citus is not in Debian 12's packages, so it is built once from
# its source tarball into a cache outside the clone and installed into
# PostgreSQL 15's extension directories.
#   packaging/citus.sh build        build (once, cached) and install Citus
#   packaging/citus.sh available    exit 0 when Citus is installed or its
#                                   source is there, else say so and exit 77
#   packaging/citus.sh start DIR    build if needed, create when missing,
#                                   start the three nodes, print AANTAFEL_*
#   packaging/citus.sh stop DIR     stop the three nodes (fast)
#   packaging/citus.sh env DIR      print the AANTAFEL_* database variables
#   packaging/citus.sh psql DIR [NODE [ARGS]]  psql as the superuser on
#                                   coordinator (default), worker1, worker2
# The nodes listen on loopback ports (workers reach each other by
# host:port), chosen free when the cluster is made and kept in DIR/ports.
# AANTAFEL_CITUS_TARBALL: the source (default ../shared/vendor beside the
# clone); AANTAFEL_CITUS_CACHE: the build cache.
# AANTAFEL_PG_THROWAWAY=1 makes throwaway nodes as pg.sh does.
set -eu

version=13.2.2
repo=$(cd "$(dirname "$0")/.." && pwd)
tarball=${AANTAFEL_CITUS_TARBALL:-$repo/../shared/vendor/citus-$version.tar.gz}
cache=${AANTAFEL_CITUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aantafel/citus-$version-pg15}
bindir=/usr/lib/postgresql/15/bin
pg_config=$bindir/pg_config   # from postgresql-server-dev-15, installed by build
pkglibdir=/usr/lib/postgresql/15/lib
nodes="coordinator worker1 worker2"

usage() {
  echo "usage: $0 build | available | start|stop|env DIR | psql DIR [NODE] [ARGS]" >&2
  exit 2
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Citus's build needs these on Debian 12 (../shared/vendor/README.md).
build_deps="postgresql-server-dev-15 autoconf flex bison liblz4-dev libzstd-dev
libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev
libcurl4-openssl-dev make gcc"

install_deps() {
  missing=""
  for p in $build_deps; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages to build Citus; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Installed when PostgreSQL 15's library directory has citus.so of this build.
installed() {
  [ -f "$pkglibdir/citus.so" ] && [ -f "$cache/stamp" ] \
    && cmp -s "$pkglibdir/citus.so" "$cache/src/src/backend/distributed/citus.so"
}

build() {
  if installed; then return 0; fi
  install_deps
  if [ ! -f "$cache/stamp" ]; then
    [ -f "$tarball" ] || { echo "Citus source not found: $tarball (set AANTAFEL_CITUS_TARBALL)" >&2; exit 1; }
    echo "building Citus $version into $cache (once)" >&2
    rm -rf "$cache/src"
    mkdir -p "$cache/src"
    tar -xzf "$tarball" -C "$cache/src" --strip-components=1
    # PostgreSQL 15.18 and later export have_createdb_privilege() themselves;
    # Citus's compatibility header defines a static copy that clashes.
    python3 - "$cache/src/src/include/pg_version_compat.h" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2 = re.sub(r'static inline bool\s*\nhave_createdb_privilege\(void\)\s*\{.*?\n\}\n', '', s, flags=re.S)
open(p, 'w').write(s2)
PY
    if grep -q '^have_createdb_privilege(void)' "$cache/src/src/include/pg_version_compat.h"; then
      echo "could not remove have_createdb_privilege from Citus's pg_version_compat.h" >&2; exit 1
    fi
    (cd "$cache/src" \
      && ./configure with_llvm=no PG_CONFIG="$pg_config" >"$cache/configure.log" 2>&1 \
      && make -j "$(nproc)" with_llvm=no >"$cache/make.log" 2>&1) \
      || { echo "Citus build failed; see $cache/configure.log and $cache/make.log" >&2; tail -n 30 "$cache/make.log" >&2 2>/dev/null; exit 1; }
    touch "$cache/stamp"
  fi
  if [ "$(id -u)" -ne 0 ] && [ ! -w "$pkglibdir" ]; then
    echo "Citus is built in $cache; install it as root: make -C $cache/src install with_llvm=no" >&2
    exit 1
  fi
  make -C "$cache/src" install with_llvm=no >"$cache/install.log" 2>&1 \
    || { tail -n 20 "$cache/install.log" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_of() { sed -n "s/^$1 //p" "$dir/ports"; }

env_lines() {
  p=$(port_of coordinator)
  echo "AANTAFEL_DATABASE_URL='host=127.0.0.1 port=$p dbname=aantafel user=aantafel_app'"
  echo "AANTAFEL_OWNER_DATABASE_URL='host=127.0.0.1 port=$p dbname=aantafel user=aantafel_owner'"
  echo "AANTAFEL_PG_SUPERUSER_URL='host=127.0.0.1 port=$p dbname=aantafel user=postgres'"
}

psql_node() {
  node=$1; shift
  as_owner "$bindir/psql" -X -q -h 127.0.0.1 -p "$(port_of "$node")" -U postgres -v ON_ERROR_STOP=1 "$@"
}

# One node: initdb when missing, then start. Trust on loopback only: the
# nodes and the tests connect over 127.0.0.1 and nothing else listens.
node_start() {
  node=$1
  data="$dir/$node/data"
  port=$(port_of "$node")
  if [ ! -s "$data/PG_VERSION" ]; then
    walopt=; durable=on
    if [ -n "${AANTAFEL_PG_THROWAWAY:-}" ]; then walopt=--wal-segsize=1; durable=off; fi
    as_owner mkdir -p "$data" "$dir/$node/run"
    as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 $walopt \
      >"$dir/$node/initdb.log" 2>&1 \
      || { cat "$dir/$node/initdb.log" >&2; exit 1; }
    cat >> "$data/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/$node/run'
unix_socket_permissions = 0700
max_connections = 200
max_prepared_transactions = 200
fsync = $durable
full_page_writes = $durable
logging_collector = off
log_min_messages = warning
citus.enable_statistics_collection = off
CONF
    if [ -n "${AANTAFEL_PG_THROWAWAY:-}" ]; then
      printf 'min_wal_size = 4MB\nmax_wal_size = 32MB\n' >> "$data/postgresql.conf"
    fi
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/$node/postgresql.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$dir/$node/postgresql.log" >&2; exit 1; }
  fi
}

cmd=${1:-}
case "$cmd" in
build) build; exit 0 ;;
available)
  if installed || [ -f "$tarball" ] || [ -f "$cache/stamp" ]; then exit 0; fi
  echo "citus: not installed and its source is not at $tarball (set AANTAFEL_CITUS_TARBALL): the Citus suites do not run" >&2
  exit 77 ;;
start|stop|env|psql) ;;
*) usage ;;
esac
dir=${2:-}
[ -n "$dir" ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case "$cmd" in
start)
  build
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "no 'postgres' user; install postgresql-15" >&2; exit 1; }
    chown postgres: "$dir"
  fi
  fresh=0
  if [ ! -s "$dir/ports" ]; then
    for n in $nodes; do echo "$n $(free_port)"; done > "$dir/ports"
    fresh=1
  fi
  for n in $nodes; do node_start "$n"; done
  if [ "$fresh" = 1 ]; then
    # Every node gets the database and the extension before any of the
    # application's roles: Citus then propagates the roles, their grants
    # and the database's settings to the workers.
    for n in $nodes; do
      psql_node "$n" -d postgres -c "CREATE DATABASE aantafel"
      psql_node "$n" -d aantafel -c "CREATE EXTENSION citus"
    done
    psql_node coordinator -d aantafel -o /dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $(port_of coordinator));
SELECT citus_add_node('127.0.0.1', $(port_of worker1));
SELECT citus_add_node('127.0.0.1', $(port_of worker2));
CREATE ROLE aantafel_owner LOGIN;
CREATE ROLE aantafel_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER DATABASE aantafel OWNER TO aantafel_owner;
REVOKE ALL ON DATABASE aantafel FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE aantafel TO aantafel_app;
ALTER SCHEMA public OWNER TO aantafel_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO aantafel_app;
SQL
    # What Citus does not propagate is done on every worker: the schema's
    # owner and privileges (the database's did reach them), and the leakproof mark of full-text matching (pg.sh says why).
    for n in worker1 worker2; do
      psql_node "$n" -d aantafel <<SQL
SET citus.enable_ddl_propagation = off;
ALTER SCHEMA public OWNER TO aantafel_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO aantafel_app;
SQL
    done
  fi
  for n in $nodes; do
    psql_node "$n" -d aantafel \
      -c "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF" >/dev/null
  done
  env_lines
  ;;
stop)
  for n in $nodes; do
    if [ -s "$dir/$n/data/PG_VERSION" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/$n/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
  done
  ;;
env)
  env_lines
  ;;
psql)
  shift 2
  node=coordinator
  case "${1:-}" in coordinator|worker1|worker2) node=$1; shift ;; esac
  psql_node "$node" -d aantafel "$@"
  ;;
esac
