#!/bin/sh
# A page that needs one indexed query: the tenant's home page (through the
# Lua runtime and the templates; its bundle turns the notices off), which the
# daemon renders from one transaction per request (BEGIN, set the tenant,
# read the welcome text, COMMIT; pipelined, prepared). Compared with
# pgbench running that same transaction over the same Unix socket, as the
# same role, with the same number of clients: how much of the database's
# own throughput the daemon delivers as HTTP pages.
#   bench/db.sh [SECONDS] [CONNECTIONS]
# AANTAFEL_BIN picks the binary (default build/aantafel, made when missing);
# KEEP=1 keeps the work directory.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-8}
bin=${AANTAFEL_BIN:-build/aantafel}
packaging/deps.sh bench >/dev/null
[ -n "${AANTAFEL_BIN:-}" ] || [ -x build/aantafel ] || make build >/dev/null
[ -x "$bin" ] || { echo "no executable $bin" >&2; exit 1; }

work=$(mktemp -d /tmp/aantafel-benchdb.XXXXXX)
apid=
cleanup() {
  [ -z "$apid" ] || { kill "$apid" 2>/dev/null; wait "$apid" 2>/dev/null || true; }
  packaging/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
mkdir -p "$work/static"

# The cluster, migrated, with one tenant and its welcome row; other rows
# of the same tenant so the lookup is an index probe, not a scan of one row.
pgenv=$(packaging/pg.sh start "$work/pg")   # fails the script when pg.sh fails
eval "$pgenv"
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
AANTAFEL_SQL_DIR=sql "$bin" migrate >/dev/null
host=bench.localhost
"$bin" tenant create bench --name "Gemeente Bench" --host "$host" >/dev/null
# The site plugin without its notices: the home page then reads the
# welcome text and the (empty) list of tables in its transaction, and
# writes nothing.
mkdir -p "$work/bundle"
cat > "$work/bundle/tenant.lua" <<'LUA'
return { plugins = { site = { notices = 0 } } }
LUA
"$bin" tenant deploy bench "$work/bundle" >/dev/null
psql() { packaging/pg.sh psql "$work/pg" -v ON_ERROR_STOP=1 -Atq "$@"; }
tid=$(psql -c "SELECT id FROM platform.tenants WHERE slug = 'bench'")
psql <<SQL
INSERT INTO plugin_store (tenant_id, plugin, key, value)
  VALUES ($tid, 'site', 'welcome', '{"text": "Welkom aan tafel: samen komen we verder."}');
INSERT INTO plugin_store (tenant_id, plugin, key, value)
  SELECT $tid, 'filler', 'k' || i, jsonb_build_object('n', i) FROM generate_series(1, 10000) i;
ANALYZE plugin_store;
SQL
run=$(echo "$AANTAFEL_DATABASE_URL" | sed -n 's/.*host=\([^ ]*\).*/\1/p')

# The transaction the daemon runs per request (core/lua/runtime_request.c, core/db/db.c).
cat > "$work/txn.sql" <<'SQL'
\startpipeline
BEGIN;
SELECT platform.enter_tenant(:'id');
SELECT value->>'text' FROM plugin_store WHERE tenant_id = :id AND plugin = 'site' AND key = 'welcome';
COMMIT;
\endpipeline
SQL

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# One worker with one connection per client; it logs every request to a
# file, as production would.
AANTAFEL_LISTEN=127.0.0.1:$port AANTAFEL_WORKERS=1 AANTAFEL_DB_POOL_SIZE=$conns \
  AANTAFEL_STATIC_DIR="$work/static" AANTAFEL_LOG_FILE="$work/aantafel.log" "$bin" serve & apid=$!
i=0
until curl -sf -H "Host: $host" "http://127.0.0.1:$port/" 2>/dev/null | grep -q "samen komen we verder"; do
  i=$((i+1)); [ $i -lt 150 ] || { echo "daemon did not serve the tenant page" >&2; tail -n 20 "$work/aantafel.log" >&2; exit 1; }
  sleep 0.1
done

to_ms='{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'
daemon() { # seconds -> "rps p99ms"
  wrk -t1 -c"$conns" -d"${1}s" --latency -H "Host: $host" "http://127.0.0.1:$port/" > "$work/wrk.out"
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "daemon answered errors under load:" >&2; cat "$work/wrk.out" >&2; exit 1
  fi
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" '"$to_ms" "$work/wrk.out")
  echo "$rps $p99"
}
pgb() { # seconds -> "tps p99ms"
  rm -f "$work"/pgbench_log.*
  (cd "$work" && pgbench -n -h "$run" -U aantafel_app -M prepared -c "$conns" -j 1 -T "$1" \
     -D id="$tid" -f txn.sql -l --log-prefix=pgbench_log aantafel) > "$work/pgbench.out" 2>&1 \
    || { cat "$work/pgbench.out" >&2; exit 1; }
  if grep -q "number of failed transactions: [1-9]" "$work/pgbench.out"; then
    echo "pgbench transactions failed:" >&2; cat "$work/pgbench.out" >&2; exit 1
  fi
  tps=$(awk '/^tps = / {print $3; exit}' "$work/pgbench.out")
  # Per-transaction latencies (microseconds, third column) from its log.
  p99=$(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f", a[i]/1000}')
  echo "$tps $p99"
}

# Warm both, then measure alternately so machine noise hits both.
daemon 2 >/dev/null; pgb 2 >/dev/null
set -- $(daemon "$secs"); a_rps=$1; a_p99=$2
set -- $(pgb "$secs"); p_tps=$1; p_p99=$2

printf '%-10s %14s %10s\n' client 'transactions/s' 'p99 ms'
printf '%-10s %14.0f %10.2f\n' aantafel "$a_rps" "$a_p99"
printf '%-10s %14.0f %10.2f\n' pgbench "$p_tps" "$p_p99"
awk -v a="$a_rps" -v p="$p_tps" -v c="$conns" 'BEGIN { printf "ratio aantafel/pgbench: %.2f  (%d clients; daemon: 1 worker, pool %d, HTTP pages; pgbench: -j 1, prepared, pipelined)\n", a/p, c, c }'
