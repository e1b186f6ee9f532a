#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need.
# As root it installs what is missing; otherwise it prints the one
# apt-get line to run. Usage: packaging/deps.sh [build|check|bench|all]
set -eu

build="cmake make gcc pkg-config libevent-dev libhttp-parser-dev libpq-dev
liblua5.4-dev libssl-dev libjansson-dev libcmark-dev libcurl4-openssl-dev zlib1g-dev libzip-dev
postgresql-15 postgresql-client-15 ca-certificates john-data npm
libpango1.0-dev libcairo2-dev fonts-lato fonts-dejavu-core libhyphen-dev hyphen-nl
hyphen-en-us"
check="clang libclang-rt-14-dev python3 python3-pytest python3-psycopg2
python3-jsonschema python3-requests python3-aiosmtpd python3-icalendar chromium
postgresql-15-plpgsql-check poppler-utils"
bench="nginx-light wrk postgresql-contrib"

case "${1:-build}" in
  build) want="$build" ;;
  check) want="$build $check" ;;
  bench) want="$build $bench" ;;
  all)   want="$build $check $bench" ;;
  *) echo "usage: $0 [build|check|bench|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  # npm also comes with other Node.js builds (which conflict with Debian's
  # npm package): any npm on the PATH will do.
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# The postgresql packages would create and start a system cluster; the
# project runs its own under var/, so keep the system one from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
