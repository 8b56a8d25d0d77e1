#!/usr/bin/env bash
# Start reflow's throwaway PostgreSQL test server (Debian's `postgresql` package): initdb into
# a directory of its own under the base directory, listening on 127.0.0.1 only, on a port of
# its own, run as the non-root `postgres` user (the server refuses to run as root).
#
# Run as root. Idempotent: a server already running from this base directory is kept.
# Installs `postgresql` with apt when its binaries are missing.
#
# Two roles: `reflow` (trust on loopback, owner of the database `reflow`) and `reflow_pw`
# (scram-sha-256 password, for the password tests; its password is in <base>/pgpass, mode 0600,
# never in a URL).
#
# Log lines go to stderr; stdout gets only the `export ...` line:
#     eval "$(tests/clusters/postgres/start.sh)"
# The same settings are in $REFLOW_POSTGRES_BASE/cluster.env (KEY=VALUE) for programs.
#
# Knobs (environment)             default
#   REFLOW_POSTGRES_BASE           /tmp/reflow-postgres  (absolute path)
#   REFLOW_POSTGRES_PORT           5491
#   REFLOW_POSTGRES_NO_APT         0        1: fail instead of calling apt-get
set -Eeuo pipefail

BASE=${REFLOW_POSTGRES_BASE:-/tmp/reflow-postgres}
PORT=${REFLOW_POSTGRES_PORT:-5491}
PG=$BASE/pg          # owned by postgres: data directory, socket, server log
DATA=$PG/data
LOG=$BASE/log

log() { printf '[postgres start %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and start the server as postgres)"
[[ $BASE == /?* ]] || die "REFLOW_POSTGRES_BASE must be an absolute path, not '$BASE'"
[[ $PORT =~ ^[1-9][0-9]*$ ]] || die "REFLOW_POSTGRES_PORT must be a port number, not '$PORT'"

# ---------------------------------------------------------------- 1. base directory
# The default lives in /tmp: never follow a planted symlink or use a directory others control.
if [ -L "$BASE" ] || { [ -e "$BASE" ] && [ "$(stat -c %u:%A "$BASE")" != 0:drwxr-xr-x ]; }; then
  die "$BASE exists but is not a plain directory owned by root with mode 0755; remove it or pick another REFLOW_POSTGRES_BASE"
fi
install -d -m 0755 "$BASE" "$LOG"
touch "$BASE/.reflow-postgres-base"    # stop.sh wipes only a directory carrying this mark

# ---------------------------------------------------------------- 2. packages
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/initdb" ]; then
  [ "${REFLOW_POSTGRES_NO_APT:-0}" = 1 ] && die "postgresql is not installed (REFLOW_POSTGRES_NO_APT=1)"
  command -v apt-get >/dev/null || die "postgresql is not installed and there is no apt-get to install it"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # no init system here: postinst must not start a cluster
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  APT=(apt-get -q -o DPkg::Lock::Timeout=600)
  log "apt-get install postgresql"
  if ! "${APT[@]}" install -y --no-install-recommends postgresql >>"$LOG/apt.log" 2>&1; then
    "${APT[@]}" update >>"$LOG/apt.log" 2>&1 || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get update failed"; }
    "${APT[@]}" install -y --no-install-recommends postgresql >>"$LOG/apt.log" 2>&1 \
      || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get install postgresql failed"; }
  fi
fi
BIN=$(pgbin)
id postgres >/dev/null 2>&1 || die "no 'postgres' user (the postgresql package creates it)"
as_pg() { runuser -u postgres -- "$@"; }

# ---------------------------------------------------------------- 3. data directory
install -d -o postgres -g postgres -m 0700 "$PG"
if [ ! -s "$DATA/PG_VERSION" ]; then
  rm -rf "$DATA"   # left by an interrupted initdb
  log "initdb $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -A trust -U reflow >"$LOG/initdb.log" 2>&1 \
    || { tail -n 20 "$LOG/initdb.log" >&2; die "initdb failed"; }
  # The password role must authenticate with scram even on this trust server: its line comes
  # first (pg_hba.conf is read top-down, first match wins).
  { echo "host all reflow_pw 127.0.0.1/32 scram-sha-256"; cat "$DATA/pg_hba.conf"; } >"$PG/hba.new"
  install -o postgres -g postgres -m 0600 "$PG/hba.new" "$DATA/pg_hba.conf" && rm -f "$PG/hba.new"
fi

# ---------------------------------------------------------------- 4. the server
# running: the postmaster of this data directory is alive (first line of postmaster.pid).
running() {
  local pid
  pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] \
    && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]
}
if running; then
  log "already running (pid $(head -n 1 "$DATA/postmaster.pid"))"
else
  log "starting on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$DATA" -w -t 60 -l "$PG/server.log" \
    -o "-p $PORT -k $PG -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start \
    >"$LOG/pg_ctl.log" 2>&1 || { tail -n 20 "$PG/server.log" >&2; die "pg_ctl start failed"; }
fi
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U reflow -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'reflow'" | grep -q 1 \
  || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U reflow reflow

# The password role: a fresh random password each start, kept only in <base>/pgpass (0600).
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
"${PSQL[@]}" -d reflow >/dev/null <<SQL
SELECT 'CREATE ROLE reflow_pw LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reflow_pw') \gexec
SET password_encryption = 'scram-sha-256';
ALTER ROLE reflow_pw PASSWORD '$PASSWORD' CREATEDB;
GRANT ALL ON DATABASE reflow TO reflow_pw;
SQL
umask 077
printf '127.0.0.1:%s:*:reflow_pw:%s\n' "$PORT" "$PASSWORD" >"$BASE/pgpass"
umask 022

cat >"$BASE/cluster.env" <<ENV
REFLOW_TEST_POSTGRES_URL=postgresql://reflow@127.0.0.1:$PORT/reflow
REFLOW_TEST_POSTGRES_PASSWORD_URL=postgresql://reflow_pw@127.0.0.1:$PORT/reflow
REFLOW_TEST_POSTGRES_PGPASSFILE=$BASE/pgpass
PGHOST=127.0.0.1
PGPORT=$PORT
PGUSER=reflow
PGDATABASE=reflow
ENV
log "ready: postgresql://reflow@127.0.0.1:$PORT/reflow (pid $(head -n 1 "$DATA/postmaster.pid"))"
echo "export $(tr '\n' ' ' <"$BASE/cluster.env")"
