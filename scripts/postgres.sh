#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store's tests, from Debian's
# packages: `scripts/postgres.sh start` prints a connection URL;
# `scripts/postgres.sh stop` stops it. Data lives in $SAKER_PG_DIR
# (default /tmp/saker-pg); it listens on 127.0.0.1 only, trusting local
# connections — for tests, never for a real deployment.
set -euo pipefail
dir=${SAKER_PG_DIR:-/tmp/saker-pg}
port=${SAKER_PG_PORT:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "postgres.sh: PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; }
# initdb and the server refuse to run as root: use the postgres user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
url="postgres://postgres@127.0.0.1:$port/postgres"
case "${1:-}" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
      as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
    fi
    echo "$url"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
