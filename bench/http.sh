#!/bin/sh
# Serves the same 3 KB file from the daemon's static route and from nginx,
# one worker each on loopback, runs wrk against each in turn and prints
# requests/s, p99 latency and the ratio daemon/nginx.
#   bench/http.sh [SECONDS] [CONNECTIONS]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
packaging/deps.sh bench >/dev/null
[ -x build/aantafel ] || make build >/dev/null

work=$(mktemp -d /tmp/aantafel-bench.XXXXXX)
trap 'kill $apid $npid 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM
chmod 755 "$work"
mkdir -p "$work/static" "$work/nginx"
head -c 2304 /dev/urandom | base64 -w 76 > "$work/static/page.txt"   # 3,072 bytes
bytes=$(wc -c < "$work/static/page.txt")

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
aport=$(port); nport=$(port)

# Both log every request to a file, as production would.
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
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
  types { text/plain txt; }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000;
  # Like the daemon's per-worker cache: descriptors kept, revalidated each second.
  open_file_cache max=1000;
  open_file_cache_valid 1s;
  server {
    listen 127.0.0.1:$nport reuseport;
    location /static/ { alias $work/static/; etag on; expires max; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & npid=$!
AANTAFEL_LISTEN=127.0.0.1:$aport AANTAFEL_WORKERS=1 AANTAFEL_STATIC_DIR="$work/static" \
  AANTAFEL_LOG_FILE="$work/aantafel.log" ./build/aantafel serve & apid=$!
for p in $aport $nport; do
  i=0; until curl -sf "http://127.0.0.1:$p/static/page.txt" >/dev/null; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "server on $p did not start" >&2; exit 1; }; sleep 0.1; done
done

run() { # port -> "rps p99ms"
  wrk -t1 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$1/static/page.txt" > "$work/wrk.out"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$work/wrk.out")
  echo "$rps $p99"
}
# Warm both, then measure alternately so machine noise hits both.
run $aport >/dev/null; run $nport >/dev/null
set -- $(run $aport); a_rps=$1; a_p99=$2
set -- $(run $nport); n_rps=$1; n_p99=$2

printf '%-10s %12s %10s\n' server 'requests/s' 'p99 ms'
printf '%-10s %12.0f %10.2f\n' aantafel "$a_rps" "$a_p99"
printf '%-10s %12.0f %10.2f\n' nginx "$n_rps" "$n_p99"
awk -v a="$a_rps" -v n="$n_rps" -v b="$bytes" 'BEGIN { printf "ratio aantafel/nginx: %.2f  (%d-byte file, %s)\n", a/n, b, "1 worker each, loopback" }'
