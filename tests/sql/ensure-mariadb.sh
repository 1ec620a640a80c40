#!/usr/bin/env bash
# Makes sure a MariaDB server and its command-line client are installed, for tests/sql
# (which start a private server of their own in a temporary folder). Idempotent: does
# nothing when both are there. Installs the Debian packages otherwise, as root (or through
# sudo), without letting the package start a system-wide server.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

installed() {
  { have mariadbd || have mysqld; } &&
    { have mariadb || have mysql; } &&
    { have mariadb-install-db || have mysql_install_db; }
}

if installed; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "ensure-mariadb: MariaDB is missing and this is not root (and no sudo):" >&2
  echo "  apt-get install mariadb-server mariadb-client" >&2
  exit 1
fi

# Keep the package's maintainer scripts from starting a server on port 3306: tests run
# their own. Debian container images often have this file already; add it only if not.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
  added_policy=1
fi
cleanup() {
  if [ "$added_policy" -eq 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT

echo "ensure-mariadb: installing mariadb-server and mariadb-client" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  mariadb-server mariadb-client >/dev/null

if ! installed; then
  echo "ensure-mariadb: installed the packages, but mariadbd/mariadb/mariadb-install-db are still missing" >&2
  exit 1
fi
