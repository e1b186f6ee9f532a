#!/bin/sh
# A municipality's home page end to end: GET / on zutphenro.localhost runs
# the site plugin's Lua, reads the plugin store and the tables (each with
# its step) in PostgreSQL and renders the templates; it writes nothing.
# Measured with wrk like bench/http.sh, then nginx serves the very bytes of
# one such answer as a file and is measured the same way: the ratio is what
# a dynamic page costs against a static one. A variant that writes on every
# view (tenant zutphen: the same bundle with the example plugin bezoeken of
# tenants/voorbeeld, a visit counter updated with compare-and-set, so every
# view writes one contended row) is measured too.
# Then a table's page with 50 contributions (GET /tafels/ID: the table, its
# groups and its conversation through plugin.api, Markdown already
# rendered), once as a guest (the site answers it shared = true: after
# the first view the worker gives the kept page, with the guest's own
# CSRF token, without running Lua) and once signed in (every read from PostgreSQL,
# and the visit mark), each against nginx serving the same bytes; and the
# page of a table on the method's workflow, six of its seven steps done,
# with its step indicator and the public results of those steps (the
# shared outcome and the report, their Markdown rendered), likewise; and
# that table's steps page (GET /tafels/ID/stappen: each step with its
# state, and for a guest a shared page too), likewise.
#
# Then the memory of many tenants: 1,000 tenants without a bundle (the
# platform's default site) and 100 with a copy of Zutphen's bundle, one
# worker keeping every Lua state; the daemon's RSS before and after one
# GET /theme.css per tenant gives the cost of one tenant's state.
#   bench/site.sh [SECONDS] [CONNECTIONS]
# WORKERS sets the worker count of the load runs (default 1, as nginx);
# AANTAFEL_BIN picks the binary (default build/aantafel, made when missing);
# KEEP=1 keeps the work directory. CITUS=1 runs it all on a Citus cluster
# (packaging/citus.sh: a coordinator and two workers, `migrate --distribute`).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
workers=${WORKERS:-1}
ntenants=1000
nbundled=100
bin=${AANTAFEL_BIN:-build/aantafel}
packaging/deps.sh bench >/dev/null
[ -n "${AANTAFEL_BIN:-}" ] || [ -x build/aantafel ] || make build >/dev/null
[ -x "$bin" ] || { echo "no executable $bin" >&2; exit 1; }
started=$(date +%s)
db=packaging/pg.sh
migrate=migrate
if [ -n "${CITUS:-}" ]; then db=packaging/citus.sh; migrate="migrate --distribute"; fi

work=$(mktemp -d /tmp/aantafel-benchsite.XXXXXX)
apid=
npid=
stop_daemon() {
  [ -z "$apid" ] || { kill "$apid" 2>/dev/null || true; wait "$apid" 2>/dev/null || true; }
  apid=
}
cleanup() {
  stop_daemon
  [ -z "$npid" ] || { kill "$npid" 2>/dev/null || true; wait "$npid" 2>/dev/null || true; }
  $db stop "$work/pg" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"
mkdir -p "$work/nginx" "$work/www/zutphen" "$work/www/zutphenro"

fail() { echo "bench/site.sh: $*" >&2; exit 1; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(port); nport=$(port)

# ------------------------------------------------------------ the database
pgenv=$($db start "$work/pg")   # fails the script when pg.sh (citus.sh) fails
eval "$pgenv"
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
owner_sql() { psql -d "$AANTAFEL_OWNER_DATABASE_URL" -X -v ON_ERROR_STOP=1 -Atq; }
AANTAFEL_SQL_DIR=sql "$bin" $migrate >/dev/null

# Zutphen as in the repository (zutphenro: its home page only reads), and
# a copy of its bundle that counts visits with the example plugin bezoeken.
"$bin" tenant create zutphenro --name "Gemeente Zutphen" --host zutphenro.localhost >/dev/null
"$bin" tenant deploy zutphenro tenants/zutphen >/dev/null
cp -R tenants/zutphen "$work/zutphen"
mkdir -p "$work/zutphen/plugins"
cp -R tenants/voorbeeld/plugins/bezoeken.lua tenants/voorbeeld/plugins/bezoeken "$work/zutphen/plugins/"
sed -i 's/^\([[:space:]]*\)plugins = {$/\1plugins = {\n\1\tbezoeken = { recent = 5 },/' "$work/zutphen/tenant.lua"
grep -q 'bezoeken = { recent = 5 },' "$work/zutphen/tenant.lua" \
  || fail "could not add the visits plugin to the copy of tenants/zutphen/tenant.lua"
"$bin" tenant create zutphen --name "Gemeente Zutphen" --host zutphen.localhost >/dev/null
"$bin" tenant deploy zutphen "$work/zutphen" >/dev/null

# ------------------------------------------------------------ the daemon
start_daemon() { # LOGFILE [VAR=VALUE ...]
  log=$1; shift
  env AANTAFEL_LISTEN="127.0.0.1:$aport" AANTAFEL_LOG_FILE="$log" "$@" "$bin" serve & apid=$!
  i=0
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: zutphen.localhost' "http://127.0.0.1:$aport/")" = 200 ]; do
    i=$((i+1)); [ $i -lt 150 ] || { tail -n 20 "$log" >&2; fail "the daemon did not serve zutphen.localhost"; }
    kill -0 "$apid" 2>/dev/null || { tail -n 20 "$log" >&2; fail "the daemon exited"; }
    sleep 0.1
  done
}

to_ms='{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'
run() { # NAME PORT HOST SECONDS [PATH [COOKIE]] -> "rps p50ms p99ms"
  out="$work/wrk-$1.out"
  wrk -t1 -c"$conns" -d"${4}s" --latency -H "Host: $3" ${6:+-H "Cookie: $6"} "http://127.0.0.1:$2${5:-/}" > "$out" \
    || { cat "$out" >&2; fail "wrk failed against $1"; }
  if grep -q "Non-2xx" "$out"; then
    cat "$out" >&2; fail "$1 answered non-2xx under load"
  fi
  if grep -q "Socket errors" "$out"; then
    cat "$out" >&2; fail "$1: socket errors under load"
  fi
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" '"$to_ms" "$out")
  p99=$(awk '$1=="99%" '"$to_ms" "$out")
  [ -n "$rps" ] && [ -n "$p99" ] || { cat "$out" >&2; fail "no figures from wrk against $1"; }
  echo "$rps $p50 $p99"
}

start_daemon "$work/aantafel.log" AANTAFEL_WORKERS="$workers"
# Warm both tenants (states, pool, page cache of the store's rows).
run warm-daemon "$aport" zutphen.localhost 3 >/dev/null
run warm-daemon-ro "$aport" zutphenro.localhost 3 >/dev/null

# A public table of zutphenro with 50 contributions by 5 residents, and a
# session of a sixth who takes part (written as the owner, inside the
# tenant's row-level security; the Markdown as the core would render it).
session=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
csrf=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
shash=$(printf '%s' "$session" | sha256sum | cut -d' ' -f1)
table=$(owner_sql <<SQL
BEGIN;
SELECT platform.enter_tenant(id::text) FROM platform.tenants WHERE slug = 'zutphenro' \\g /dev/null
-- Row by row: on a Citus cluster an INSERT ... SELECT into a distributed
-- table is a COPY, which row-level security refuses.
DO \$do\$
DECLARE
    t bigint := current_setting('aantafel.tenant_id')::bigint;
    at timestamptz := now();
    x bigint;
    who bigint[] := '{}';
    one bigint;
    b text;
BEGIN
    FOR i IN 1..6 LOOP
        INSERT INTO accounts (tenant_id, email, display_name, email_verified_at)
          VALUES (t, format('inwoner%s@example.nl', i), format('Inwoner %s', i), at) RETURNING id INTO one;
        who := who || one;
    END LOOP;
    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility)
      VALUES (t, 'Buurthuis Hanzehof', 'Wat is ervoor nodig zodat de Hanzehof een buurthuis wordt?',
              'Een *tafel* over het gebouw aan de Hanzehof.', '<p>Een <em>tafel</em> over het gebouw aan de Hanzehof.</p>',
              'public') RETURNING id INTO x;
    FOREACH one IN ARRAY who LOOP
        INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x, one, 'member');
    END LOOP;
    FOR i IN 1..50 LOOP
        b := format('Bijdrage %s: een buurthuis heeft een vaste beheerder nodig, open avonden'
                    ' voor jongeren en ouderen, een koffiehoek en afspraken over geluid met de buren. Wie neemt de sleutel?', i);
        INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html, created_at)
          VALUES (t, x, who[1 + i % 5], b, '<p>' || b || '</p>', at - make_interval(mins => 60 - i));
    END LOOP;
    INSERT INTO sessions (tenant_id, token_hash, account_id, csrf_token)
      VALUES (t, decode('$shash', 'hex'), who[6], '$csrf');
    PERFORM set_config('bench.table', x::text, true);
END \$do\$;
SELECT current_setting('bench.table');
-- What the daemon does before it commits: on a cluster the triggers ran
-- on a worker and could not tell the daemons that guests' pages changed.
SELECT platform.commit_marks(id) FROM platform.tenants WHERE slug = 'zutphenro' \\g /dev/null
COMMIT;
SQL
) || fail "could not make the table"
cookie="at_csrf=$csrf; at_session=$session"

# A second public table of zutphenro on the method's full workflow, as the
# daemon declares it (GET /api/v1/workflows), six of its seven steps done,
# with the shared outcome and the report that residents read (row by row,
# as above; the Markdown as the core would render it).
wf=$(curl -sf -H 'Host: zutphenro.localhost' "http://127.0.0.1:$aport/api/v1/workflows" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
w = [x for x in d["items"] if x["id"] == "volledig"]
print(json.dumps({"id": "volledig", "name": w[0]["name"], "title": w[0]["title"], "steps": w[0]["steps"]}) if w else "")
') || fail "GET /api/v1/workflows failed"
[ -n "$wf" ] || fail "zutphenro declares no workflow volledig"
steps=$(owner_sql <<SQL
BEGIN;
SELECT platform.enter_tenant(id::text) FROM platform.tenants WHERE slug = 'zutphenro' \\g /dev/null
DO \$do\$
DECLARE
    t bigint := current_setting('aantafel.tenant_id')::bigint;
    at timestamptz := now();
    wf jsonb := \$wf\$$wf\$wf\$;
    x bigint;
    fac bigint;
    s jsonb;
    n bigint;
    b text;
BEGIN
    SELECT a.id INTO fac FROM accounts a WHERE a.tenant_id = t AND a.email = 'inwoner6@example.nl';
    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility)
      VALUES (t, 'Groen Houtmarkt', 'Wat is ervoor nodig zodat de Houtmarkt groener wordt?',
              'Een tafel *met stappen*.', '<p>Een tafel <em>met stappen</em>.</p>', 'public') RETURNING id INTO x;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x, fac, 'member');
    INSERT INTO table_workflows (tenant_id, table_id, workflow_id, definition, started_at) VALUES (t, x, 'volledig', wf, at);
    FOR s, n IN SELECT e.s, e.n FROM jsonb_array_elements(wf -> 'steps') WITH ORDINALITY AS e(s, n) LOOP
        INSERT INTO table_steps (tenant_id, table_id, step_id, position, type, name, title, records, state, changed_at)
          VALUES (t, x, s ->> 'id', n, s ->> 'type', s ->> 'name', s -> 'title', s -> 'records',
                  CASE WHEN n < 7 THEN 'done' ELSE 'active' END, at);
    END LOOP;
    INSERT INTO records (tenant_id, table_id, step_id, kind, fields, fields_html, created_by, created_at, updated_by, updated_at)
      VALUES (t, x, 'opbrengst', 'outcome',
              jsonb_build_object('decision', 'Meer **bomen** en bankjes.', 'minority', 'Houd de markt *vrij*.'),
              jsonb_build_object('decision', '<p>Meer <strong>bomen</strong> en bankjes.</p>',
                                 'minority', '<p>Houd de markt <em>vrij</em>.</p>'), fac, at, fac, at),
             (t, x, 'verslag', 'report', jsonb_build_object('summary', 'De Houtmarkt wordt *groener*.', 'published_on', '2026-03-05'),
              jsonb_build_object('summary', '<p>De Houtmarkt wordt <em>groener</em>.</p>'), fac, at, fac, at);
    FOR i IN 1..10 LOOP
        b := format('Bijdrage %s over bomen op de Houtmarkt.', i);
        INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html, created_at)
          VALUES (t, x, fac, b, '<p>' || b || '</p>', at - make_interval(mins => 20 - i));
    END LOOP;
    PERFORM set_config('bench.table', x::text, true);
END \$do\$;
SELECT current_setting('bench.table');
-- What the daemon does before it commits: on a cluster the triggers ran
-- on a worker and could not tell the daemons that guests' pages changed.
SELECT platform.commit_marks(id) FROM platform.tenants WHERE slug = 'zutphenro' \\g /dev/null
COMMIT;
SQL
) || fail "could not make the table with steps"
code=$(curl -s -o "$work/www/zutphenro/stappen.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  "http://127.0.0.1:$aport/tafels/$steps")
[ "$code" = 200 ] || fail "GET /tafels/$steps: $code"
code=$(curl -s -o "$work/www/zutphenro/stappen-in.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  -H "Cookie: $cookie" "http://127.0.0.1:$aport/tafels/$steps")
[ "$code" = 200 ] || fail "GET /tafels/$steps signed in: $code"
for f in stappen stappen-in; do
  [ "$(grep -c '<li class="step step--' "$work/www/zutphenro/$f.html")" = 7 ] || fail "$f: the table page lacks its steps"
  grep -q 'aria-current="step"' "$work/www/zutphenro/$f.html" || fail "$f: no current step"
  grep -q '<strong>bomen</strong>' "$work/www/zutphenro/$f.html" || fail "$f: the table page lacks its results"
done
grep -q 'Inwoner 6' "$work/www/zutphenro/stappen-in.html" || fail "the signed-in page of the table with steps does not show the person"
bytes_s=$(wc -c < "$work/www/zutphenro/stappen.html")
bytes_si=$(wc -c < "$work/www/zutphenro/stappen-in.html")
run warm-steps "$aport" zutphenro.localhost 2 "/tafels/$steps" >/dev/null
code=$(curl -s -o "$work/www/zutphenro/overzicht.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  "http://127.0.0.1:$aport/tafels/$steps/stappen")
[ "$code" = 200 ] || fail "GET /tafels/$steps/stappen: $code"
code=$(curl -s -o "$work/www/zutphenro/overzicht-in.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  -H "Cookie: $cookie" "http://127.0.0.1:$aport/tafels/$steps/stappen")
[ "$code" = 200 ] || fail "GET /tafels/$steps/stappen signed in: $code"
for f in overzicht overzicht-in; do
  [ "$(grep -c '<li id="stap-' "$work/www/zutphenro/$f.html")" = 7 ] || fail "$f: the steps page lacks its steps"
done
grep -q 'Inwoner 6' "$work/www/zutphenro/overzicht-in.html" || fail "the signed-in steps page does not show the person"
bytes_o=$(wc -c < "$work/www/zutphenro/overzicht.html")
bytes_oi=$(wc -c < "$work/www/zutphenro/overzicht-in.html")
run warm-overview "$aport" zutphenro.localhost 2 "/tafels/$steps/stappen" >/dev/null
code=$(curl -s -o "$work/www/zutphenro/tafel.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  "http://127.0.0.1:$aport/tafels/$table")
[ "$code" = 200 ] || fail "GET /tafels/$table: $code"
code=$(curl -s -o "$work/www/zutphenro/tafel-in.html" -w '%{http_code}' -H 'Host: zutphenro.localhost' \
  -H "Cookie: $cookie" "http://127.0.0.1:$aport/tafels/$table")
[ "$code" = 200 ] || fail "GET /tafels/$table signed in: $code"
[ "$(grep -c 'class="contribution' "$work/www/zutphenro/tafel.html")" -ge 50 ] || fail "the table page lacks contributions"
grep -q 'Inwoner 6' "$work/www/zutphenro/tafel-in.html" || fail "the signed-in table page does not show the person"
bytes_t=$(wc -c < "$work/www/zutphenro/tafel.html")
bytes_ti=$(wc -c < "$work/www/zutphenro/tafel-in.html")
run warm-table "$aport" zutphenro.localhost 2 "/tafels/$table" >/dev/null

# The exact bytes of one home page of each, served by nginx as files:
# taken after the table was made, since zutphenro's home lists it.
for t in zutphen zutphenro; do
  code=$(curl -s -o "$work/www/$t/index.html" -w '%{http_code}' -H "Host: $t.localhost" "http://127.0.0.1:$aport/")
  [ "$code" = 200 ] || fail "GET / on $t.localhost: $code"
  grep -q "Welkom aan tafel in Zutphen" "$work/www/$t/index.html" || fail "GET / on $t.localhost is not Zutphen's home page"
done
grep -q 'class="views"' "$work/www/zutphen/index.html" || fail "zutphen's home page shows no visit counter"
! grep -q 'class="views"' "$work/www/zutphenro/index.html" || fail "zutphenro's home page counts visits"
grep -q 'Stap: Evaluatie' "$work/www/zutphenro/index.html" || fail "zutphenro's home page does not list the table's step"
bytes_rw=$(wc -c < "$work/www/zutphen/index.html")
bytes_ro=$(wc -c < "$work/www/zutphenro/index.html")

# As bench/http.sh: one worker (or WORKERS), every request logged to a file.
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes $workers;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  types { text/html html; }
  charset utf-8;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000;
  open_file_cache max=1000;
  open_file_cache_valid 1s;
  server {
    listen 127.0.0.1:$nport reuseport;
    server_name zutphen.localhost;
    location = / { root $work/www/zutphen; try_files /index.html =404; }
  }
  server {
    listen 127.0.0.1:$nport;
    server_name zutphenro.localhost;
    location = / { root $work/www/zutphenro; try_files /index.html =404; }
    location = /tafel { root $work/www/zutphenro; try_files /tafel.html =404; }
    location = /tafel-in { root $work/www/zutphenro; try_files /tafel-in.html =404; }
    location = /stappen { root $work/www/zutphenro; try_files /stappen.html =404; }
    location = /stappen-in { root $work/www/zutphenro; try_files /stappen-in.html =404; }
    location = /overzicht { root $work/www/zutphenro; try_files /overzicht.html =404; }
    location = /overzicht-in { root $work/www/zutphenro; try_files /overzicht-in.html =404; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & npid=$!
i=0
until curl -sf -H 'Host: zutphen.localhost' "http://127.0.0.1:$nport/" | cmp -s - "$work/www/zutphen/index.html"; do
  i=$((i+1)); [ $i -lt 100 ] || fail "nginx did not serve the page"; sleep 0.1
done
curl -sf -H 'Host: zutphenro.localhost' "http://127.0.0.1:$nport/" | cmp -s - "$work/www/zutphenro/index.html" \
  || fail "nginx does not serve the read-only page"
run warm-nginx "$nport" zutphen.localhost 2 >/dev/null

# Measured alternately so machine noise hits both.
r=$(run daemon "$aport" zutphen.localhost "$secs") || exit 1; set -- $r; a_rps=$1; a_p50=$2; a_p99=$3
r=$(run nginx "$nport" zutphen.localhost "$secs") || exit 1; set -- $r; n_rps=$1; n_p50=$2; n_p99=$3
r=$(run daemon-ro "$aport" zutphenro.localhost "$secs") || exit 1; set -- $r; r_rps=$1; r_p50=$2; r_p99=$3
r=$(run nginx-ro "$nport" zutphenro.localhost "$secs") || exit 1; set -- $r; m_rps=$1; m_p50=$2; m_p99=$3
r=$(run daemon-table "$aport" zutphenro.localhost "$secs" "/tafels/$table") || exit 1; set -- $r; t_rps=$1; t_p50=$2; t_p99=$3
r=$(run nginx-table "$nport" zutphenro.localhost "$secs" /tafel) || exit 1; set -- $r; u_rps=$1; u_p50=$2; u_p99=$3
r=$(run daemon-table-in "$aport" zutphenro.localhost "$secs" "/tafels/$table" "$cookie") || exit 1
set -- $r; ti_rps=$1; ti_p50=$2; ti_p99=$3
r=$(run nginx-table-in "$nport" zutphenro.localhost "$secs" /tafel-in) || exit 1; set -- $r; ui_rps=$1; ui_p50=$2; ui_p99=$3
r=$(run daemon-steps "$aport" zutphenro.localhost "$secs" "/tafels/$steps") || exit 1; set -- $r; s_rps=$1; s_p50=$2; s_p99=$3
r=$(run nginx-steps "$nport" zutphenro.localhost "$secs" /stappen) || exit 1; set -- $r; v_rps=$1; v_p50=$2; v_p99=$3
r=$(run daemon-steps-in "$aport" zutphenro.localhost "$secs" "/tafels/$steps" "$cookie") || exit 1
set -- $r; si_rps=$1; si_p50=$2; si_p99=$3
r=$(run nginx-steps-in "$nport" zutphenro.localhost "$secs" /stappen-in) || exit 1; set -- $r; vi_rps=$1; vi_p50=$2; vi_p99=$3
r=$(run daemon-overview "$aport" zutphenro.localhost "$secs" "/tafels/$steps/stappen") || exit 1; set -- $r; o_rps=$1; o_p50=$2; o_p99=$3
r=$(run nginx-overview "$nport" zutphenro.localhost "$secs" /overzicht) || exit 1; set -- $r; p_rps=$1; p_p50=$2; p_p99=$3
r=$(run daemon-overview-in "$aport" zutphenro.localhost "$secs" "/tafels/$steps/stappen" "$cookie") || exit 1
set -- $r; oi_rps=$1; oi_p50=$2; oi_p99=$3
r=$(run nginx-overview-in "$nport" zutphenro.localhost "$secs" /overzicht-in) || exit 1; set -- $r; pi_rps=$1; pi_p50=$2; pi_p99=$3
kill "$npid" 2>/dev/null || true; wait "$npid" 2>/dev/null || true; npid=
stop_daemon
# The store is behind row-level security, which binds its owner too: read
# the counter as the superuser.
views=$($db psql "$work/pg" -X -v ON_ERROR_STOP=1 -Atq -c "
  SELECT s.value->>'views' FROM plugin_store s JOIN platform.tenants t ON t.id = s.tenant_id
   WHERE t.slug = 'zutphen' AND s.plugin = 'bezoeken' AND s.key = 'stats'")
served=$(grep -c "tenant=zutphen method=GET path=/ status=200" "$work/aantafel.log" || true)

header() { printf '%-22s %12s %9s %9s %8s\n' server 'requests/s' 'p50 ms' 'p99 ms' bytes; }
row() { printf '%-22s %12.0f %9.2f %9.2f %8d\n' "$@"; }
ratio() { awk -v l="$1" -v a="$2" -v n="$3" -v w="${4:-}" 'BEGIN { printf "ratio aantafel/nginx, %s %.3f%s\n", l, a/n, w == "" ? "" : " " w }'; }

echo "GET / (home page: Lua, plugin store, tables and their steps, templates), $conns connections, $workers worker(s) each, loopback;"
echo "database pool ${AANTAFEL_DB_POOL_SIZE:-8} per worker, PostgreSQL fsync $([ -n "${AANTAFEL_PG_THROWAWAY:-}" ] && echo off || echo on)"
header
row 'aantafel zutphen' "$a_rps" "$a_p50" "$a_p99" "$bytes_rw"
row 'nginx same bytes' "$n_rps" "$n_p50" "$n_p99" "$bytes_rw"
row 'aantafel zutphenro' "$r_rps" "$r_p50" "$r_p99" "$bytes_ro"
row 'nginx same bytes' "$m_rps" "$m_p50" "$m_p99" "$bytes_ro"
ratio "counting visits (bezoeken):" "$a_rps" "$n_rps"
ratio "as shipped, read-only:      " "$r_rps" "$m_rps"
echo "zutphen's counter: ${views:-0} visits counted of $served pages served (a view gives up counting after 5 conflicting tries)"
echo
echo "GET /tafels/$table (a table with 50 contributions: plugin.api, SQL visibility rules, templates;"
echo "a guest gets the page the worker kept after the first view)"
header
row 'aantafel, guest' "$t_rps" "$t_p50" "$t_p99" "$bytes_t"
row 'nginx same bytes' "$u_rps" "$u_p50" "$u_p99" "$bytes_t"
row 'aantafel, signed in' "$ti_rps" "$ti_p50" "$ti_p99" "$bytes_ti"
row 'nginx same bytes' "$ui_rps" "$ui_p50" "$ui_p99" "$bytes_ti"
ratio "table page as a guest: " "$t_rps" "$u_rps" "(the kept shared page: no Lua, no SQL)"
ratio "table page signed in:  " "$ti_rps" "$ui_rps" "(its own reads, and the visit mark)"
echo
echo "GET /tafels/$steps (a table on the workflow volledig, six of seven steps done: the step indicator, the"
echo "public results of those steps, 10 contributions; the steps and records in the same batch of reads)"
header
row 'aantafel, guest' "$s_rps" "$s_p50" "$s_p99" "$bytes_s"
row 'nginx same bytes' "$v_rps" "$v_p50" "$v_p99" "$bytes_s"
row 'aantafel, signed in' "$si_rps" "$si_p50" "$si_p99" "$bytes_si"
row 'nginx same bytes' "$vi_rps" "$vi_p50" "$vi_p99" "$bytes_si"
ratio "steps page as a guest: " "$s_rps" "$v_rps" "(the kept shared page: no Lua, no SQL)"
ratio "steps page signed in:  " "$si_rps" "$vi_rps" "(its own reads, and the visit mark)"
echo
echo "GET /tafels/$steps/stappen (the same table's steps, each with its state; the facilitator's forms and"
echo "history for those who may see them)"
header
row 'aantafel, guest' "$o_rps" "$o_p50" "$o_p99" "$bytes_o"
row 'nginx same bytes' "$p_rps" "$p_p50" "$p_p99" "$bytes_o"
row 'aantafel, signed in' "$oi_rps" "$oi_p50" "$oi_p99" "$bytes_oi"
row 'nginx same bytes' "$pi_rps" "$pi_p50" "$pi_p99" "$bytes_oi"
ratio "steps overview as a guest: " "$o_rps" "$p_rps" "(the kept shared page: no Lua, no SQL)"
ratio "steps overview signed in:  " "$oi_rps" "$pi_rps" "(its own reads: the table, its steps, its people)"

# ------------------------------------------------------------ 1,100 tenants
# One transaction through the owner role: t0001..t1000 without a bundle
# (version 0, the platform's default site), b001..b100 with a copy of
# Zutphen's deployed bundle, and 'warmup' for the daemon's first request.
owner_sql <<SQL
BEGIN;
WITH t AS (
  INSERT INTO platform.tenants (slug, name)
  SELECT format('t%s', lpad(i::text, 4, '0')), format('Gemeente Bench %s', i)
    FROM generate_series(1, $ntenants) i
  UNION ALL SELECT 'warmup', 'Gemeente Warmup'
  RETURNING id, slug)
INSERT INTO platform.tenant_hosts (host, tenant_id) SELECT slug || '.bench.localhost', id FROM t;
INSERT INTO platform.tenants (slug, name)
  SELECT format('b%s', lpad(i::text, 3, '0')), format('Gemeente Bundel %s', i)
    FROM generate_series(1, $nbundled) i;
CREATE TEMP TABLE bundled ON COMMIT DROP AS
  SELECT id, slug FROM platform.tenants WHERE slug ~ '^b[0-9]{3}\$';
INSERT INTO platform.tenant_hosts (host, tenant_id) SELECT slug || '.bench.localhost', id FROM bundled;
INSERT INTO platform.bundles (tenant_id, version, checksum, total_bytes, nfiles, created_by)
  SELECT n.id, 1, b.checksum, b.total_bytes, b.nfiles, 'bench/site.sh'
    FROM bundled n, platform.tenants z JOIN platform.bundles b ON b.tenant_id = z.id AND b.version = z.bundle_version
   WHERE z.slug = 'zutphen';
INSERT INTO platform.bundle_files (tenant_id, version, path, content)
  SELECT n.id, 1, f.path, f.content
    FROM bundled n, platform.tenants z JOIN platform.bundle_files f ON f.tenant_id = z.id AND f.version = z.bundle_version
   WHERE z.slug = 'zutphen';
UPDATE platform.tenants SET bundle_version = 1 WHERE id IN (SELECT id FROM bundled);
COMMIT;
SQL

# One worker that keeps every state; warmed on tenants outside the measured
# sets so one-time costs (connections, first allocations) are not counted.
start_daemon "$work/mem.log" AANTAFEL_WORKERS=1 AANTAFEL_LUA_STATES_MAX_BYTES=16GiB
hosts() { # PREFIX WIDTH COUNT
  awk -v p="$1" -v w="$2" -v n="$3" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%0*d.bench.localhost\n", p, w, i }'
}
cat > "$work/hit.py" <<'PY'
# GET /theme.css once per host read from stdin, on one kept-alive connection.
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
n = 0
for host in sys.stdin.read().split():
    conn.request("GET", "/theme.css", headers={"Host": host})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or not body.startswith(b":root {"):
        sys.exit("GET /theme.css on %s: %d %r" % (host, r.status, body[:200]))
    n += 1
print(n)
PY
hit() { /usr/bin/python3 "$work/hit.py" "$aport" || fail "a /theme.css request failed"; }
echo warmup.bench.localhost | hit >/dev/null
echo zutphen.localhost | hit >/dev/null
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$apid/status"; }
built() { grep -c "tenant=$1: Lua state for version" "$work/mem.log" || true; }
sleep 0.5
rss0=$(rss)
[ "$(hosts t 4 $ntenants | hit)" = "$ntenants" ] || fail "not every default-site tenant answered"
rss1=$(rss)
[ "$(hosts b 3 $nbundled | hit)" = "$nbundled" ] || fail "not every bundled tenant answered"
rss2=$(rss)
n_t=$(built 't[0-9]*'); n_b=$(built 'b[0-9]*')
# A second round must find every state alive: no state built again.
hosts t 4 $ntenants | hit >/dev/null
hosts b 3 $nbundled | hit >/dev/null
[ "$(built 't[0-9]*')" = "$n_t" ] && [ "$(built 'b[0-9]*')" = "$n_b" ] || fail "states were dropped and built again"
kib_t=$(grep "tenant=t[0-9]*: Lua state for version" "$work/mem.log" | sed -n 's/.*(\([0-9]*\) KiB)$/\1/p' \
  | awk '{s+=$1} END {printf "%.0f", NR ? s/NR : 0}')
kib_b=$(grep "tenant=b[0-9]*: Lua state for version" "$work/mem.log" | sed -n 's/.*(\([0-9]*\) KiB)$/\1/p' \
  | awk '{s+=$1} END {printf "%.0f", NR ? s/NR : 0}')
stop_daemon

echo
echo "memory of tenants (1 worker, every Lua state kept; one GET /theme.css each)"
printf '%-34s %10s\n' '' 'VmRSS KiB'
printf '%-34s %10d\n' 'before' "$rss0"
printf '%-34s %10d\n' "after $ntenants default-site tenants" "$rss1"
printf '%-34s %10d\n' "after $nbundled more, Zutphen's bundle" "$rss2"
awk -v a="$rss0" -v b="$rss1" -v n="$ntenants" -v l="$kib_t" \
  'BEGIN { printf "per default-site tenant: %.1f KiB RSS (the Lua state reports %d KiB)\n", (b-a)/n, l }'
awk -v a="$rss1" -v b="$rss2" -v n="$nbundled" -v l="$kib_b" \
  'BEGIN { printf "per bundled tenant:      %.1f KiB RSS (the Lua state reports %d KiB)\n", (b-a)/n, l }'
echo "log lines \"Lua state for version\": $n_t for t0001..t$ntenants, $n_b for b001..b$nbundled, $(built '[a-z0-9-]*') in all"
[ "$n_t" = "$ntenants" ] && [ "$n_b" = "$nbundled" ] || fail "expected $ntenants and $nbundled states built"
echo "bench/site.sh took $(( $(date +%s) - started ))s"
