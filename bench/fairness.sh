#!/bin/sh
# Fairness between municipalities on one daemon. Tenant "buur" serves a
# small page made by its Lua and a template; tenant "brand" has a route
# that burns its whole budget (a loop stopped by the time limit). The
# neighbour's page is measured with wrk alone, then again while 20
# connections keep asking for the burning route, and the script prints
# the neighbour's throughput and p99 latency in both, with their ratios.
# The goal: under the burn, p99 within 10x of idle and throughput at
# least half.
#   bench/fairness.sh [SECONDS] [CONNECTIONS]
# WORKERS sets the daemon's workers (default 2); AANTAFEL_BIN the binary
# (default build/aantafel, made when missing); KEEP=1 keeps the work
# directory; extra AANTAFEL_* variables reach the daemon (for example
# AANTAFEL_LUA_SLICE=10ms).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-20}
workers=${WORKERS:-2}
bin=${AANTAFEL_BIN:-build/aantafel}
packaging/deps.sh bench >/dev/null
[ -n "${AANTAFEL_BIN:-}" ] || [ -x build/aantafel ] || make build >/dev/null
[ -x "$bin" ] || { echo "no executable $bin" >&2; exit 1; }

work=$(mktemp -d /tmp/aantafel-benchfair.XXXXXX)
apid=
bpid=
cleanup() {
  [ -z "$bpid" ] || { kill "$bpid" 2>/dev/null || true; wait "$bpid" 2>/dev/null || true; }
  [ -z "$apid" ] || { kill "$apid" 2>/dev/null || true; wait "$apid" 2>/dev/null || true; }
  packaging/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"

fail() { echo "bench/fairness.sh: $*" >&2; exit 1; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(port)

pgenv=$(packaging/pg.sh start "$work/pg")
eval "$pgenv"
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
AANTAFEL_SQL_DIR=sql "$bin" migrate >/dev/null

# The two bundles.
mkdir -p "$work/buur/plugins" "$work/buur/templates" "$work/brand/plugins"
cat > "$work/buur/tenant.lua" <<'LUA'
return { name = "Gemeente Buur", plugins = { buur = true } }
LUA
cat > "$work/buur/plugins/buur.lua" <<'LUA'
local items = {}
for i = 1, 20 do items[i] = { title = "Tafel " .. i, n = i * 3 } end
plugin.route("GET", "/hallo", function(req)
	return plugin.render("hallo.html", { items = items, who = req.query.wie or "bezoeker" }, req.lang)
end)
LUA
cat > "$work/buur/templates/hallo.html" <<'HTML'
<!doctype html><html lang="nl"><head><title>Hallo</title></head><body>
<h1>Hallo {{ who }}</h1><ul>{% for t in items %}<li>{{ t.title }}: {{ t.n }}</li>{% end %}</ul>
</body></html>
HTML
cat > "$work/brand/tenant.lua" <<'LUA'
return { name = "Gemeente Brand", plugins = { brand = true } }
LUA
cat > "$work/brand/plugins/brand.lua" <<'LUA'
plugin.route("GET", "/brand", function()
	local n = 0
	while true do n = n + 1 end
end)
LUA
"$bin" tenant create buur --name "Gemeente Buur" --host buur.localhost >/dev/null
"$bin" tenant deploy buur "$work/buur" >/dev/null
"$bin" tenant create brand --name "Gemeente Brand" --host brand.localhost >/dev/null
"$bin" tenant deploy brand "$work/brand" >/dev/null

# The daemon: the burning route runs until the time limit, not the
# instruction limit.
env AANTAFEL_LISTEN="127.0.0.1:$aport" AANTAFEL_LOG_FILE="$work/aantafel.log" AANTAFEL_WORKERS="$workers" \
    AANTAFEL_LUA_INSTRUCTION_LIMIT=10000000000 AANTAFEL_LOG_LEVEL=warn "$bin" serve & apid=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: buur.localhost' "http://127.0.0.1:$aport/hallo")" = 200 ]; do
  i=$((i+1)); [ $i -lt 150 ] || { tail -n 20 "$work/aantafel.log" >&2; fail "the daemon did not serve buur.localhost"; }
  sleep 0.1
done

to_ms='{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'
measure() { # NAME -> "rps p99ms"
  out="$work/wrk-$1.out"
  wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s --latency -H "Host: buur.localhost" \
      "http://127.0.0.1:$aport/hallo" > "$out" || { cat "$out" >&2; fail "wrk failed ($1)"; }
  if grep -q "Non-2xx" "$out"; then cat "$out" >&2; fail "the neighbour answered non-2xx ($1)"; fi
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  p99=$(awk '$1=="99%" '"$to_ms" "$out")
  [ -n "$rps" ] && [ -n "$p99" ] || { cat "$out" >&2; fail "no figures from wrk ($1)"; }
  echo "$rps $p99"
}

measure warm >/dev/null || exit 1
r=$(measure idle) || exit 1
set -- $r
idle_rps=$1 idle_p99=$2

# The burn: 20 connections that each ask for the burning route again as
# soon as it is answered (500 at the time limit, or 503 when refused).
wrk -t1 -c20 -d"$((secs + 6))s" --timeout 30s -H "Host: brand.localhost" \
    "http://127.0.0.1:$aport/brand" > "$work/wrk-burner.out" 2>&1 & bpid=$!
sleep 3
r=$(measure burn) || exit 1
set -- $r
burn_rps=$1 burn_p99=$2
wait "$bpid" 2>/dev/null || true
bpid=
burned=$(awk '/requests in/ {print $1}' "$work/wrk-burner.out")
refused=$(grep -c 'refused: the tenant' "$work/aantafel.log" || true)

printf '%-34s %12s %10s\n' "the neighbour's page (/hallo)" "req/s" "p99 ms"
printf '%-34s %12s %10s\n' "alone" "$idle_rps" "$idle_p99"
printf '%-34s %12s %10s\n' "beside 20 burning connections" "$burn_rps" "$burn_p99"
awk -v a="$idle_rps" -v b="$burn_rps" -v p="$idle_p99" -v q="$burn_p99" 'BEGIN {
  printf "throughput under the burn / alone: %.2f  (goal: at least 0.50)\n", b / a
  printf "p99 under the burn / alone:        %.1f  (goal: at most 10)\n", q / p }'
echo "the burning route: ${burned:-?} requests answered, $refused refused with 503 (workers $workers, $secs s, $conns connections)"
