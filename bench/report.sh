#!/bin/sh
# The report as a PDF beside its HTML page: a public table of Zutphen on
# the method's full workflow, six of its seven steps done, with a report
# long enough for some 20 A4 pages as a guest reads it (a long summary and
# many outcomes, each with the minority's wisdom). Each round changes the
# report's summary (so that neither the guests' cache nor the PDF cache
# has it), then times GET /tafels/ID/verslag (the page: the document built
# in Lua and rendered as HTML), GET /tafels/ID/verslag.pdf (the same
# document, laid out by cairo and pango on the PDF threads) and that PDF
# once more (from the PDF cache). Prints the medians and their ratios; no
# thresholds.
#   bench/report.sh [ROUNDS]
# AANTAFEL_BIN picks the binary (default build/aantafel, made when
# missing); KEEP=1 keeps the work directory (and the PDF).
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-10}
bin=${AANTAFEL_BIN:-build/aantafel}
packaging/deps.sh check >/dev/null
[ -n "${AANTAFEL_BIN:-}" ] || [ -x build/aantafel ] || make build >/dev/null
[ -x "$bin" ] || { echo "no executable $bin" >&2; exit 1; }
db=packaging/pg.sh

work=$(mktemp -d /tmp/aantafel-benchreport.XXXXXX)
apid=
cleanup() {
  [ -z "$apid" ] || { kill "$apid" 2>/dev/null || true; wait "$apid" 2>/dev/null || true; }
  $db stop "$work/pg" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"

fail() { echo "bench/report.sh: $*" >&2; exit 1; }
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(port)

pgenv=$($db start "$work/pg")
eval "$pgenv"
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
owner_sql() { psql -d "$AANTAFEL_OWNER_DATABASE_URL" -X -v ON_ERROR_STOP=1 -Atq; }
AANTAFEL_SQL_DIR=sql "$bin" migrate >/dev/null
"$bin" tenant create zutphen --name "Gemeente Zutphen" --host zutphen.localhost >/dev/null
"$bin" tenant deploy zutphen tenants/zutphen >/dev/null

env AANTAFEL_LISTEN="127.0.0.1:$aport" AANTAFEL_LOG_FILE="$work/aantafel.log" "$bin" serve & apid=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: zutphen.localhost' "http://127.0.0.1:$aport/")" = 200 ]; do
  i=$((i+1)); [ $i -lt 150 ] || { tail -n 20 "$work/aantafel.log" >&2; fail "the daemon did not serve zutphen.localhost"; }
  kill -0 "$apid" 2>/dev/null || { tail -n 20 "$work/aantafel.log" >&2; fail "the daemon exited"; }
  sleep 0.1
done

# The table, as bench/site.sh makes one: the workflow as the daemon
# declares it, the records row by row with their Markdown rendered.
wf=$(curl -sf -H 'Host: zutphen.localhost' "http://127.0.0.1:$aport/api/v1/workflows" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
w = [x for x in d["items"] if x["id"] == "volledig"]
print(json.dumps({"id": "volledig", "name": w[0]["name"], "title": w[0]["title"], "steps": w[0]["steps"]}) if w else "")
') || fail "GET /api/v1/workflows failed"
[ -n "$wf" ] || fail "zutphen declares no workflow volledig"
tid=$(owner_sql <<SQL
BEGIN;
SELECT platform.enter_tenant(id::text) FROM platform.tenants WHERE slug = 'zutphen' \\g /dev/null
DO \$do\$
DECLARE
    t bigint := current_setting('aantafel.tenant_id')::bigint;
    at timestamptz := now();
    wf jsonb := \$wf\$$wf\$wf\$;
    x bigint;
    fac bigint;
    s jsonb;
    n bigint;
    para text := 'Bewoners, ondernemers en de gemeente spraken over de "Houtmarkt" - over 10-12 bomen, '
                 || '50 % meer groen en een plein waar jong en oud elkaar treffen. ';
    summary text := '';
BEGIN
    INSERT INTO accounts (tenant_id, email, display_name, email_verified_at)
      VALUES (t, 'fien@example.nl', 'Fien', at) RETURNING id INTO fac;
    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility)
      VALUES (t, 'Groen Houtmarkt', 'Wat is ervoor nodig zodat de Houtmarkt groener wordt?',
              'Een tafel.', '<p>Een tafel.</p>', 'public') RETURNING id INTO x;
    INSERT INTO table_workflows (tenant_id, table_id, workflow_id, definition, started_at) VALUES (t, x, 'volledig', wf, at);
    FOR s, n IN SELECT e.s, e.n FROM jsonb_array_elements(wf -> 'steps') WITH ORDINALITY AS e(s, n) LOOP
        INSERT INTO table_steps (tenant_id, table_id, step_id, position, type, name, title, records, state, changed_at)
          VALUES (t, x, s ->> 'id', n, s ->> 'type', s ->> 'name', s -> 'title', s -> 'records',
                  CASE WHEN n < 7 THEN 'done' ELSE 'active' END, at);
    END LOOP;
    FOR i IN 1..12 LOOP
        summary := summary || repeat(para, 4) || E'\n\n';
    END LOOP;
    FOR i IN 1..25 LOOP
        INSERT INTO records (tenant_id, table_id, step_id, kind, fields, fields_html, created_by, created_at, updated_by, updated_at)
          VALUES (t, x, 'opbrengst', 'outcome',
                  jsonb_build_object('decision', format('Besluit %s: ', i) || repeat(para, 3),
                                     'minority', 'Houd de markt *vrij*. ' || repeat(para, 2)),
                  jsonb_build_object('decision', '<p>' || format('Besluit %s: ', i) || repeat(para, 3) || '</p>',
                                     'minority', '<p>Houd de markt <em>vrij</em>. ' || repeat(para, 2) || '</p>'),
                  fac, at, fac, at);
    END LOOP;
    INSERT INTO records (tenant_id, table_id, step_id, kind, fields, fields_html, created_by, created_at, updated_by, updated_at)
      VALUES (t, x, 'verslag', 'report', jsonb_build_object('summary', summary, 'published_on', '2026-03-05'),
              jsonb_build_object('summary', '<p>' || replace(summary, E'\n\n', '</p><p>') || '</p>'), fac, at, fac, at);
    PERFORM set_config('bench.table', x::text, true);
END \$do\$;
SELECT current_setting('bench.table');
COMMIT;
SQL
) || fail "could not make the table"

url="http://127.0.0.1:$aport/tafels/$tid/verslag"
get() { # PATH-SUFFIX OUT -> seconds
  r=$(curl -s -o "$2" -w '%{http_code} %{time_total}' -H 'Host: zutphen.localhost' "$url$1")
  [ "${r%% *}" = 200 ] || fail "GET /tafels/$tid/verslag$1: ${r%% *}"
  echo "${r#* }"
}
change() { # a new summary: a new document for the page and the PDF
  owner_sql >/dev/null <<SQL
BEGIN;
SELECT platform.enter_tenant(id::text) FROM platform.tenants WHERE slug = 'zutphen' \\g /dev/null
UPDATE records SET fields = jsonb_set(fields, '{summary}', to_jsonb('Ronde $1. ' || (fields ->> 'summary'))),
                   fields_html = jsonb_set(fields_html, '{summary}',
                                           to_jsonb('<p>Ronde $1.</p>' || (fields_html ->> 'summary'))),
                   updated_at = now()
 WHERE table_id = $tid AND kind = 'report';
COMMIT;
SQL
  sleep 0.3     # the daemon's listener hears of the change
}
get "" "$work/warm.html" >/dev/null
get ".pdf" "$work/warm.pdf" >/dev/null
: > "$work/html.t"; : > "$work/pdf.t"; : > "$work/cached.t"
n=1
while [ $n -le "$rounds" ]; do
  change $n
  get "" "$work/report.html" >> "$work/html.t"
  get ".pdf" "$work/report.pdf" >> "$work/pdf.t"
  get ".pdf" "$work/cached.pdf" >> "$work/cached.t"
  cmp -s "$work/report.pdf" "$work/cached.pdf" || fail "the cached PDF differs from the one rendered"
  n=$((n+1))
done
grep -q "Ronde $rounds\\." "$work/report.html" || fail "the page did not follow the change"
pdftotext "$work/report.pdf" - | grep -q "Ronde $rounds\\." || fail "the PDF did not follow the change"
pages=$(pdfinfo "$work/report.pdf" | awk '/^Pages:/ { print $2 }')

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m * 1000 }'; }
h=$(median "$work/html.t"); p=$(median "$work/pdf.t"); c=$(median "$work/cached.t")
hb=$(wc -c < "$work/report.html"); pb=$(wc -c < "$work/report.pdf")
echo "the report of a table as a guest reads it: $pages A4 pages, $rounds rounds, each after a change"
printf '%-34s %10s %10s\n' what 'median ms' bytes
printf '%-34s %10s %10d\n' "HTML page (/verslag)" "$h" "$hb"
printf '%-34s %10s %10d\n' "PDF rendered (/verslag.pdf)" "$p" "$pb"
printf '%-34s %10s %10d\n' "PDF from the cache" "$c" "$pb"
awk -v p="$p" -v h="$h" -v c="$c" 'BEGIN { printf "ratio PDF/HTML:          %.2f\nratio cached PDF/HTML:   %.2f\n", p / h, c / h }'
