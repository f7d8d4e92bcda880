#!/usr/bin/env bash
# A private PostgreSQL server with pgvector on a free loopback port, for tests and local use.
#   scripts/postgres.sh start [DIR]   initdb + start; prints DATABASE_URL=... (also in DIR/url)
#   scripts/postgres.sh stop  [DIR]   stop it and delete DIR
#   scripts/postgres.sh halt  [DIR]   stop it (pg_ctl -m fast), keeping DIR: a test's database outage
#   scripts/postgres.sh resume [DIR]  start a halted server again, on the same port and data
# DIR defaults to .tmp/postgres. Never touches the system cluster. pgvector must be installed
# (scripts/setup-system.sh).
set -euo pipefail
cmd=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$root/.tmp/postgres}

bindir=""
for v in 17 16 15; do
  if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then bindir=/usr/lib/postgresql/$v/bin; break; fi
done
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
server_start() { # PORT
  as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $1 -c listen_addresses=127.0.0.1 -k $dir -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
}

case "$cmd" in
  start)
    [ -n "$bindir" ] || { echo "postgres.sh: no PostgreSQL server installed (scripts/setup-system.sh)" >&2; exit 3; }
    sharedir=$("$bindir/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$(basename "$(dirname "$bindir")")")
    [ -f "$sharedir/extension/vector.control" ] || { echo "postgres.sh: pgvector is not installed for $bindir (scripts/setup-system.sh)" >&2; exit 3; }
    if [ -f "$dir/url" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      echo "DATABASE_URL=$(cat "$dir/url")"; exit 0
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
    server_start "$port"
    url="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    echo "DATABASE_URL=$url"
    ;;
  stop)
    if [ -d "$dir/data" ] && [ -n "$bindir" ]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  halt)
    [ -n "$bindir" ] && [ -d "$dir/data" ] || { echo "postgres.sh: no server at $dir" >&2; exit 3; }
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    [ -n "$bindir" ] && [ -f "$dir/url" ] || { echo "postgres.sh: no server at $dir" >&2; exit 3; }
    port=$(sed -E 's#^.*:([0-9]+)/.*$#\1#' "$dir/url")
    server_start "$port"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop|halt|resume [DIR]" >&2; exit 2 ;;
esac
