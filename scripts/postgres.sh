#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, from Debian's packages
# (/usr/lib/postgresql/<version>/bin). For tests only: it trusts every local
# connection and runs with fsync off.
#
#   scripts/postgres.sh start   create the cluster if needed, start it, print its URL
#   scripts/postgres.sh url     print the URL of the running server (exit 1 if not running)
#   scripts/postgres.sh stop    stop it and delete its data
#
# The cluster lives in $SAKER_PG_DIR (default /tmp/saker-pg-<uid>); it listens
# on a unix socket in that directory and on 127.0.0.1 at a free port chosen
# when the cluster is created (kept in $SAKER_PG_DIR/port). As root, initdb
# and the server run as the `postgres` user (they refuse root). The URL is
# postgres://postgres@127.0.0.1:<port>/postgres; tests create their own
# databases in it. Concurrent `start`s are serialized with flock.
set -euo pipefail

dir=${SAKER_PG_DIR:-/tmp/saker-pg-$(id -u)}
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/initdb" ] || bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
  echo "postgres.sh: PostgreSQL binaries not found (apt-get install postgresql)" >&2
  exit 1
}

# fd 9 (the lock) is closed for children: a server that inherited it would
# hold the lock for its whole life.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@" 9>&-; else "$@" 9>&-; fi; }

running() { [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

# A TCP port nothing listens on (bash's /dev/tcp: a refused connect means free).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "postgres.sh: no free port found" >&2
  return 1
}

start() {
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    free_port >"$dir/port"
  fi
  running && return 0
  for attempt in 1 2; do
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null; then
      return 0
    fi
    # Most likely someone took the port since the cluster was made.
    [ "$attempt" -eq 1 ] && free_port >"$dir/port"
  done
  echo "postgres.sh: the server did not start; its log:" >&2
  tail -20 "$dir/log" >&2 || true
  exit 1
}

case "${1:-}" in
  start)
    mkdir -p "$dir"
    exec 9>"$dir.lock"
    flock 9
    start
    url
    ;;
  url)
    running || { echo "postgres.sh: not running (scripts/postgres.sh start)" >&2; exit 1; }
    url
    ;;
  stop)
    if [ -d "$dir" ]; then
      exec 9>"$dir.lock"
      flock 9
      if running; then as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
      rm -rf "$dir"
    fi
    ;;
  *)
    echo "usage: $0 start|url|stop" >&2
    exit 2
    ;;
esac
