#!/bin/sh
# `make demo`: a private PostgreSQL under var/pg (created once, reused),
# migrations, the example tenants, then the daemon in the foreground.
# Ctrl-C stops the daemon and the database.
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
port=${AANTAFEL_DEMO_PORT:-8080}

packaging/pg.sh start var/pg > var/pg.env
. ./var/pg.env
export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
export AANTAFEL_LISTEN="127.0.0.1:$port"

stop_db() { packaging/pg.sh stop var/pg; echo "database stopped"; }
trap stop_db EXIT
trap 'exit 130' INT TERM

./build/aantafel migrate -c etc/aantafel.conf

# The example municipalities: slug|name|host.
for t in "zutphen|Gemeente Zutphen|zutphen.localhost" "voorbeeld|Gemeente Voorbeeld|voorbeeld.localhost"; do
  slug=${t%%|*}; rest=${t#*|}; name=${rest%%|*}; host=${rest#*|}
  if ! ./build/aantafel tenant list -c etc/aantafel.conf | awk 'NR>1 {print $1}' | grep -qx "$slug"; then
    ./build/aantafel tenant create "$slug" --name "$name" --host "$host" -c etc/aantafel.conf
  fi
done

# Their bundles; a deploy of an unchanged folder makes no new version.
for slug in zutphen voorbeeld; do
  ./build/aantafel tenant deploy "$slug" "tenants/$slug" -c etc/aantafel.conf
done

# Example content (once; a second run adds nothing): the demo's accounts,
# Zutphen's first tables (etc/demo.sql), and tables on the method's
# workflows, made through the API of a daemon the script starts on a free
# port and stops again.
AANTAFEL_DEMO_PASSWORD=${AANTAFEL_DEMO_PASSWORD:-aan tafel in de demo}
export AANTAFEL_DEMO_PASSWORD
/usr/bin/python3 packaging/demo-seed.py --aantafel ./build/aantafel -c etc/aantafel.conf

cat <<MSG

  Aantafel runs. Open:
    http://zutphen.localhost:$port/      (Gemeente Zutphen)
    http://voorbeeld.localhost:$port/    (Gemeente Voorbeeld)
    http://127.0.0.1:$port/healthz       (liveness)  /readyz (database)
  Database: var/pg (psql: packaging/pg.sh psql var/pg)
  Mail: not sent; each mail is written as a file you can open:
    $(pwd)/var/mail/<tenant>/<id>.eml
  Tables: Zutphen has tables at each stage of the method: at the intake
  (Speeltuin Noorderhaven), in the interviews (Eenzaamheid in De Hoven),
  with an approved run-sheet (Fietsroute naar school), finished and closed
  (Groen in de Binnenstad), and two with a conversation (Buurthuis
  Hanzehof, Mantelzorg in de Waterkwartier). Voorbeeld's table Het nieuwe
  dorpshuis has walked its neighbourhood (buurtschouw).
  Sign in with password '$AANTAFEL_DEMO_PASSWORD' as:
    gespreksleider@zutphen.localhost     facilitator (Zutphen)
    opdrachtgever@zutphen.localhost      the tables' client (Zutphen)
    anna@zutphen.localhost               a resident at the tables
    gespreksleider@voorbeeld.localhost   facilitator (Voorbeeld)
    opdrachtgever@voorbeeld.localhost    the table's client (Voorbeeld)
  (a var/pg of an earlier demo keeps its accounts without a password:
  ask for one at /wachtwoord-vergeten, the link is in the mail file, or
  remove var/ to start afresh).
  Accounts: sign up at /registreren (the confirmation link is in the mail
  file), or make an administrator in another terminal:
    . var/pg.env && export AANTAFEL_DATABASE_URL AANTAFEL_OWNER_DATABASE_URL
    echo 'een lang wachtwoord' | ./build/aantafel user create -c etc/aantafel.conf \\
      --tenant zutphen --email beheer@zutphen.localhost --role admin
  Ctrl-C stops the daemon and the database.

MSG
./build/aantafel serve -c etc/aantafel.conf || true
