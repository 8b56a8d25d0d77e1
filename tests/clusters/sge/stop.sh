#!/usr/bin/env bash
# Stop reflow's Grid Engine test cell started by start.sh with the same base directory.
#
# Deletes the cell's jobs first (so no job outlives sge_execd), then stops exactly the daemons
# start.sh recorded under $REFLOW_SGE_BASE/run, by pid, after checking /proc/PID/comm: never by
# name. Daemons start.sh did not start are left alone. Idempotent: nothing running is fine.
#
# Knobs (environment)
#   REFLOW_SGE_BASE   /tmp/reflow-sge (as for start.sh)
#   REFLOW_SGE_CELL   default
#   REFLOW_SGE_WIPE   1: also delete the cell, its spool and accounting, and the base directory
#                     (the next start.sh creates the cell again; job ids start from 1)
set -Eeuo pipefail

T0=$(date +%s%N)
BASE=${REFLOW_SGE_BASE:-/tmp/reflow-sge}
RUN=$BASE/run
export SGE_ROOT=/var/lib/gridengine SGE_CELL=${REFLOW_SGE_CELL:-default}
export SGE_QMASTER_PORT=6444 SGE_EXECD_PORT=6445

log() { printf '[sge stop %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01d s' $((t / 1000)) $((t % 1000 / 100)); }

[ "$(id -u)" = 0 ] || die "run me as root"
[[ $BASE == /?* ]] || die "REFLOW_SGE_BASE must be an absolute path, not '$BASE'"
if [ ! -d "$RUN" ]; then log "nothing to stop: no $RUN"; exit 0; fi

# pid_of NAME: the recorded pid, if that process is alive and really is NAME.
pid_of() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}
gone() { local st; st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }

# stop_one NAME: SIGTERM the recorded daemon, wait (30 s at most; sge_qmaster takes ~10 s), SIGKILL.
stop_one() {
  local pid
  if ! pid=$(pid_of "$1"); then
    [ -e "$RUN/$1.pid" ] && log "$1: pid $(cat "$RUN/$1.pid") is not a running $1 (stale pid file removed)"
    rm -f "$RUN/$1.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do gone "$pid" && break; sleep 0.1; done
  if ! gone "$pid"; then log "$1: still there after 30 s, SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$RUN/$1.pid"
  log "$1 stopped (pid $pid)"
}

# Delete every job of the cell, so that no job (and no shepherd) is left when sge_execd goes.
if pid_of sge_qmaster >/dev/null && [ -n "$(qstat -u '*' 2>/dev/null)" ]; then
  log "deleting all jobs"
  qdel -f -u '*' >/dev/null 2>&1 || true
  for _ in $(seq 150); do [ -z "$(qstat -u '*' 2>/dev/null)" ] && break; sleep 0.2; done
  [ -z "$(qstat -u '*' 2>/dev/null)" ] || log "some jobs were still ending: $(qstat -u '*' | tail -n +3 | awk '{print $1, $5}' | tr '\n' ' ')"
fi

stop_one sge_execd
stop_one sge_qmaster

if [ "${REFLOW_SGE_WIPE:-0}" = 1 ]; then
  [ -e "$BASE/.reflow-sge-base" ] || die "not wiping $BASE: it has no .reflow-sge-base mark"
  for f in "$RUN"/*.pid; do [ -e "$f" ] && die "not wiping: $f is still there"; done
  rm -rf -- "${SGE_ROOT:?}/${SGE_CELL:?}" /var/spool/gridengine/spooldb /var/spool/gridengine/qmaster \
    /var/spool/gridengine/execd "$BASE"
  log "wiped cell $SGE_CELL, its spool and $BASE"
fi
log "stopped in $(elapsed)"
