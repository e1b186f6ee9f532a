#!/bin/sh
# The export of a table with 100,000 contributions (GET
# /api/v1/tables/{id}/export and /export/contributions.csv, streamed from
# a cursor: core/app/api_stream.c): the time to download each, and the
# daemon's peak memory while it runs (VmHWM reset before each, minus its
# RSS before; the first export is also shown, when the daemon's memory
# grows to what a stream needs). The reference is PostgreSQL's own COPY of the same rows,
# built by the same expressions, through psql on the same Unix socket:
# the time and psql's peak memory (GNU time, or Python's resource).
#   bench/export.sh [CONTRIBUTIONS]
# AANTAFEL_BIN picks the binary (default build/aantafel, made when
# missing); KEEP=1 keeps the work directory.
set -eu
cd "$(dirname "$0")/.."
n=${1:-100000}
bin=${AANTAFEL_BIN:-build/aantafel}
packaging/deps.sh bench >/dev/null
[ -n "${AANTAFEL_BIN:-}" ] || [ -x build/aantafel ] || make build >/dev/null
[ -x "$bin" ] || { echo "no executable $bin" >&2; exit 1; }

work=$(mktemp -d /tmp/aantafel-benchexport.XXXXXX)
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

pgenv=$(packaging/pg.sh start "$work/pg")
eval "$pgenv"
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
AANTAFEL_SQL_DIR=sql "$bin" migrate >/dev/null
host=bench.localhost
"$bin" tenant create bench --name "Gemeente Bench" --host "$host" >/dev/null
psql() { packaging/pg.sh psql "$work/pg" -v ON_ERROR_STOP=1 -Atq "$@"; }
tid=$(psql -c "SELECT id FROM platform.tenants WHERE slug = 'bench'")

# A facilitator with an API token, a public table and N contributions.
secret=$(/usr/bin/python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
table=$(psql <<SQL | tail -n 1
INSERT INTO accounts (tenant_id, email, display_name) VALUES ($tid, 'fac@bench.test', 'Fien Facilitator');
INSERT INTO account_roles (tenant_id, account_id, role)
  SELECT $tid, id, 'facilitator' FROM accounts WHERE tenant_id = $tid AND email = 'fac@bench.test';
INSERT INTO api_tokens (tenant_id, account_id, name, token_hash)
  SELECT $tid, id, 'bench', sha256(convert_to('$secret', 'UTF8')) FROM accounts WHERE tenant_id = $tid;
INSERT INTO tables (tenant_id, title, question, visibility) VALUES ($tid, 'Heel veel', 'Wat is ervoor nodig?', 'public');
INSERT INTO table_members (tenant_id, table_id, account_id, role)
  SELECT $tid, t.id, a.id, 'facilitator' FROM tables t, accounts a WHERE t.tenant_id = $tid AND a.tenant_id = $tid;
INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)
  SELECT $tid, t.id, a.id, 'Bijdrage nummer ' || i || ', met "aanhalingstekens" en een komma',
         '<p>Bijdrage nummer ' || i || '</p>'
    FROM tables t, accounts a, generate_series(1, $n) i WHERE t.tenant_id = $tid AND a.tenant_id = $tid;
ANALYZE contributions;
SELECT id FROM tables WHERE tenant_id = $tid;
SQL
)
run=$(echo "$AANTAFEL_DATABASE_URL" | sed -n 's/.*host=\([^ ]*\).*/\1/p')

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AANTAFEL_LISTEN=127.0.0.1:$port AANTAFEL_WORKERS=1 \
  AANTAFEL_STATIC_DIR="$work/static" AANTAFEL_LOG_FILE="$work/aantafel.log" "$bin" serve & apid=$!
i=0
until curl -sf -H "Host: $host" "http://127.0.0.1:$port/api/v1/tables/$table" >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 150 ] || { echo "daemon did not serve the table" >&2; tail -n 20 "$work/aantafel.log" >&2; exit 1; }
  sleep 0.1
done

kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
export_run() { # path -> "seconds bytes peak_growth_kib rss_before_kib"
  echo 5 > "/proc/$apid/clear_refs"
  before=$(kib "$apid" VmRSS)
  t=$(curl -sf -o "$work/out" -w '%{time_total}' -H "Host: $host" -H "Authorization: Bearer at_$secret" \
        "http://127.0.0.1:$port/api/v1$1") || { echo "export $1 failed" >&2; exit 1; }
  echo "$t $(wc -c < "$work/out") $(( $(kib "$apid" VmHWM) - before )) $before"
}
# The same rows as the export's, written by PostgreSQL's COPY through psql.
copy_run() { # select [copy options] -> "seconds bytes peak_kib"
  /usr/bin/python3 - "$work/out" "$run" "$tid" "$1" "${2:-}" <<'PY'
import resource, subprocess, sys, time
out, run, tid, select, options = sys.argv[1:]
sql = (f"BEGIN; SELECT platform.enter_tenant('{tid}'); "
       f"COPY ({select}) TO STDOUT {options}; COMMIT;")
t0 = time.monotonic()
with open(out, "wb") as f:
    subprocess.run(["psql", "-h", run, "-U", "aantafel_app", "-d", "aantafel", "-Atq", "-v", "ON_ERROR_STOP=1",
                    "-c", sql], stdout=f, check=True)
t = time.monotonic() - t0
import os
print(f"{t:.3f} {os.path.getsize(out)} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}
json_rows="SELECT json_build_object('id', c.id, 'group_id', c.group_id, 'parent_id', c.parent_id,
  'author', json_build_object('id', p.id, 'name', p.display_name, 'kind', 'account'), 'recorded', false,
  'body', c.body, 'body_html', c.body_html, 'created_at', c.created_at, 'edited_at', c.edited_at,
  'hidden', false, 'hidden_reason', c.hidden_reason)::text
  FROM contributions c LEFT JOIN accounts p ON p.tenant_id = c.tenant_id AND p.id = c.author_id
  WHERE c.tenant_id = $tid AND c.table_id = $table ORDER BY c.id"
csv_rows="SELECT c.id, c.group_id, NULL, c.parent_id, p.display_name, 'account', c.created_at, c.edited_at,
  'nee', c.hidden_reason, c.body
  FROM contributions c LEFT JOIN accounts p ON p.tenant_id = c.tenant_id AND p.id = c.author_id
  WHERE c.tenant_id = $tid AND c.table_id = $table ORDER BY c.id"

# The daemon's first export (cold: its memory grows to what a stream
# needs), then both warm.
set -- $(export_run "/tables/$table/export"); f_t=$1; f_b=$2; f_m=$3; f_r=$4
copy_run "$json_rows" >/dev/null
set -- $(export_run "/tables/$table/export"); j_t=$1; j_b=$2; j_m=$3; j_r=$4
set -- $(copy_run "$json_rows"); jc_t=$1; jc_b=$2; jc_m=$3
set -- $(export_run "/tables/$table/export/contributions.csv"); c_t=$1; c_b=$2; c_m=$3; c_r=$4
set -- $(copy_run "$csv_rows" "WITH (FORMAT csv, HEADER)"); cc_t=$1; cc_b=$2; cc_m=$3

printf '%-34s %9s %12s %16s\n' "$n contributions" seconds 'MiB out' 'peak memory KiB'
printf '%-34s %9.3f %12.1f %16s\n' "aantafel JSON export, first" "$f_t" "$(echo "$f_b" | awk '{print $1/1048576}')" "+$f_m (daemon at $f_r)"
printf '%-34s %9.3f %12.1f %16s\n' "aantafel JSON export" "$j_t" "$(echo "$j_b" | awk '{print $1/1048576}')" "+$j_m (daemon at $j_r)"
printf '%-34s %9.3f %12.1f %16s\n' "COPY of the same JSON rows (psql)" "$jc_t" "$(echo "$jc_b" | awk '{print $1/1048576}')" "$jc_m (psql)"
printf '%-34s %9.3f %12.1f %16s\n' "aantafel CSV export" "$c_t" "$(echo "$c_b" | awk '{print $1/1048576}')" "+$c_m (daemon at $c_r)"
printf '%-34s %9.3f %12.1f %16s\n' "COPY of the same rows (psql)" "$cc_t" "$(echo "$cc_b" | awk '{print $1/1048576}')" "$cc_m (psql)"
awk -v a="$j_t" -v b="$jc_t" -v c="$c_t" -v d="$cc_t" -v m="$f_m" -v s="$f_b" 'BEGIN {
  printf "time ratio aantafel/COPY: JSON %.2f, CSV %.2f; the daemon grew by %.1f%% of the JSON export at its first\n",
         a/b, c/d, 100*m*1024/s }'
