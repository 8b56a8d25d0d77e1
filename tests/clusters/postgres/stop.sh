#!/usr/bin/env bash
# Stop reflow's PostgreSQL test server started by start.sh with the same base directory.
#
# Stops exactly the postmaster named by the first line of <data>/postmaster.pid, after checking
# /proc/PID/comm: never by name. Fast shutdown (SIGINT: sessions are ended, no waiting for
# clients), SIGQUIT after 30 s. Idempotent: nothing running is fine.
#
# Knobs (environment)
#   REFLOW_POSTGRES_BASE   /tmp/reflow-postgres (as for start.sh)
#   REFLOW_POSTGRES_WIPE   1: also delete the data directory and the base directory
set -Eeuo pipefail

BASE=${REFLOW_POSTGRES_BASE:-/tmp/reflow-postgres}
DATA=$BASE/pg/data

log() { printf '[postgres stop %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR

[ "$(id -u)" = 0 ] || die "run me as root"
[[ $BASE == /?* ]] || die "REFLOW_POSTGRES_BASE must be an absolute path, not '$BASE'"
gone() { local st; st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }

pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 300); do gone "$pid" && break; sleep 0.1; done
  if ! gone "$pid"; then log "pid $pid still there after 30 s: SIGQUIT"; kill -QUIT "$pid" 2>/dev/null || true; fi
  log "stopped (pid $pid)"
else
  log "nothing to stop${pid:+ (pid $pid in postmaster.pid is not a running postgres)}"
fi

if [ "${REFLOW_POSTGRES_WIPE:-0}" = 1 ] && [ -e "$BASE/.reflow-postgres-base" ]; then
  rm -rf "$BASE"
  log "wiped $BASE"
fi
