#!/usr/bin/env bash
# Installs the Debian packages Quiver's tests and local services need (run as root; CI does).
#  - PostgreSQL with pgvector: a private server for the catalog's PostgreSQL tests
#    (Debian 13: the binary package; Debian 12: Debian's own pgvector source package, built
#    against PostgreSQL 15, since bookworm has no pgvector package)
#  - Chromium: the dashboard's browser tests (driven by playwright-core; never a downloaded browser)
# Idempotent: what is present is left alone.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: not root, so no Debian packages installed; tests that need PostgreSQL+pgvector or Chromium skip and say why" >&2
  [ "${1:-}" = "--if-root" ] && exit 0
  exit 1
fi

debian_major=$(cut -d. -f1 /etc/debian_version)
updated=0
apt_update() { if [ "$updated" -eq 0 ]; then apt-get update -qq; updated=1; fi; }
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || echo "$1"; }

if [ "$debian_major" -ge 13 ]; then
  pg=17
  missing=$(for p in postgresql-$pg postgresql-$pg-pgvector chromium; do need "$p"; done)
else
  pg=15
  missing=$(for p in postgresql-$pg postgresql-server-dev-$pg build-essential chromium; do need "$p"; done)
fi
if [ -n "$missing" ]; then
  apt_update
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  echo "setup-system: installed $(echo $missing | tr '\n' ' ')"
fi

if [ ! -f "/usr/share/postgresql/$pg/extension/vector.control" ]; then
  echo "setup-system: building pgvector for PostgreSQL $pg from Debian's source package"
  list=/etc/apt/sources.list.d/quiver-pgvector-src.sources
  if [ ! -f "$list" ]; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$list"
    updated=0
  fi
  apt_update
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq pgvector >/dev/null 2>&1)
  src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
  [ -n "$src" ] || { echo "setup-system: apt-get source pgvector failed" >&2; exit 1; }
  make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/$pg/bin/pg_config" OPTFLAGS="" >/dev/null
  make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/$pg/bin/pg_config" install >/dev/null
  rm -rf "$work"
  echo "setup-system: pgvector installed"
fi
echo "setup-system: PostgreSQL $pg with pgvector and Chromium are ready"
