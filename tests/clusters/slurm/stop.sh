#!/usr/bin/env bash
# Stop reflow's Slurm test cluster started by start.sh in the same base directory.
#
# Cancels its jobs first (so no job outlives slurmd), then stops exactly the daemons start.sh
# recorded under $REFLOW_SLURM_BASE/run, by pid, after checking /proc/PID/comm: never by name.
# munged is stopped only if start.sh started it. Idempotent: nothing running is fine.
#
# Knobs (environment)
#   REFLOW_SLURM_BASE   /tmp/reflow-slurm (as for start.sh)
#   REFLOW_SLURM_WIPE   1: also delete the base directory (state, logs, accounting DB)
set -Eeuo pipefail

T0=$(date +%s%N)
BASE=${REFLOW_SLURM_BASE:-/tmp/reflow-slurm}
RUN=$BASE/run
export SLURM_CONF=$BASE/etc/slurm.conf

log() { printf '[slurm stop %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01d s' $((t / 1000)) $((t % 1000 / 100)); }

[ "$(id -u)" = 0 ] || die "run me as root"
[[ $BASE == /?* ]] || die "REFLOW_SLURM_BASE must be an absolute path, not '$BASE'"
if [ ! -d "$BASE" ]; then log "nothing to stop: no $BASE"; exit 0; fi

# pid_of NAME COMM: the recorded pid, if that process is alive and really is COMM.
pid_of() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}
gone() { local st; st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }

# stop_all NAME:COMM...: SIGTERM each recorded daemon, wait for all of them (20 s at most),
# then SIGKILL what is left. Daemons named together are stopped in parallel.
stop_all() {
  local item name comm pid pids=() names=()
  for item in "$@"; do
    name=${item%%:*} comm=${item#*:}
    if pid=$(pid_of "$name" "$comm"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid") names+=("$name")
    elif [ -e "$RUN/$name.pid" ]; then
      log "$name: pid $(cat "$RUN/$name.pid") is not a running $comm (stale pid file removed)"
      rm -f "$RUN/$name.pid"
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  local i left
  for _ in $(seq 200); do
    left=0
    for pid in "${pids[@]}"; do gone "$pid" || left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if ! gone "${pids[i]}"; then log "${names[i]}: still there after 20 s, SIGKILL"; kill -KILL "${pids[i]}" 2>/dev/null || true; fi
    rm -f "$RUN/${names[i]}.pid"
    log "${names[i]} stopped (pid ${pids[i]})"
  done
}

# Cancel the jobs of this cluster (SLURM_CONF points at it), so that no slurmstepd or job
# process is left behind when slurmd goes.
if pid_of slurmctld slurmctld >/dev/null; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086  # job ids are words
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 150); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
    [ -z "$(squeue -h -o %A 2>/dev/null)" ] || log "some jobs were still ending: $(squeue -h -o '%A %T' | tr '\n' ' ')"
  fi
fi

# One slurmd, or one per node of a multi-node cluster (slurmd-nK.pid, REFLOW_SLURM_NODE_PORTS).
nodes=()
for f in "$RUN"/slurmd-*.pid; do [ -e "$f" ] && { f=${f##*/}; nodes+=("${f%.pid}:slurmd"); }; done
stop_all slurmd:slurmd "${nodes[@]}" slurmctld:slurmctld
stop_all slurmdbd:slurmdbd
stop_all mariadbd:mariadbd
if [ -e "$RUN/munged.pid" ]; then   # present only when start.sh started munged
  stop_all munged:munged
fi

if [ "${REFLOW_SLURM_WIPE:-0}" = 1 ]; then
  [ -e "$BASE/.reflow-slurm-base" ] || die "not wiping $BASE: it has no .reflow-slurm-base mark"
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] && die "not wiping $BASE: $f is still there"
  done
  rm -rf -- "$BASE"
  log "wiped $BASE"
fi
log "stopped in $(elapsed)"
