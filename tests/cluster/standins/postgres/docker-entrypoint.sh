#!/bin/bash
# TEST STAND-IN entrypoint (see ../README.md): the part of the official postgres image's contract
# our chart uses. On an empty $PGDATA: initdb with $POSTGRES_USER / $POSTGRES_PASSWORD
# (scram-sha-256 for TCP), run /docker-entrypoint-initdb.d/*.sh and *.sql once against a server
# listening on the Unix socket only, stop it; then exec the server on all addresses.
set -euo pipefail
if [ "${1:-postgres}" != "postgres" ]; then exec "$@"; fi
: "${PGDATA:?}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile "$pwfile" -E UTF8 --locale C.UTF-8 \
    --auth-local trust --auth-host scram-sha-256
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start
  export PGHOST=/var/run/postgresql PGUSER="$POSTGRES_USER"
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "running $f"
        # shellcheck source=/dev/null
        if [ -x "$f" ]; then "$f"; else . "$f"; fi
        ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --dbname postgres -f "$f" ;;
      *) ;;
    esac
  done
  unset PGHOST PGUSER
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
