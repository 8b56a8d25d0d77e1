#!/usr/bin/env bash
# Start reflow's single-host Son of Grid Engine test cell (SGE 8.1.9 from Debian 12's
# gridengine-* packages): sge_qmaster + sge_execd on this host, queue all.q, PE smp.
#
# Run as root. Idempotent: while the cell is up it only re-applies the settings below (qconf
# is cheap) and checks that the queue is usable; a daemon that died is started again.
# Installs what is missing with apt (debconf preseeded, so the package creates the cell).
# The cell itself is system-wide, as Debian's packages put it: SGE_ROOT=/var/lib/gridengine,
# spool under /var/spool/gridengine. This script's own files (pids, logs, cluster.env) go
# under one base directory.
#
# Log lines go to stderr; stdout gets only the `export SGE_ROOT=... SGE_CELL=...` line:
#     eval "$(tests/clusters/sge/start.sh)"
# The same settings are in $REFLOW_SGE_BASE/cluster.env (KEY=VALUE) for programs.
#
# Knobs (environment)             default
#   REFLOW_SGE_BASE                /tmp/reflow-sge  (absolute path)
#   REFLOW_SGE_CELL                default  SGE_CELL
#   REFLOW_SGE_SLOTS               4        slots of all.q (> CPUs = oversubscribed)
#   REFLOW_SGE_MAX_AJ_TASKS        75000    max_aj_tasks (largest array task id)
#   REFLOW_SGE_NO_APT              0        1: fail instead of calling apt-get
set -Eeuo pipefail

T0=$(date +%s%N)
BASE=${REFLOW_SGE_BASE:-/tmp/reflow-sge}
SLOTS=${REFLOW_SGE_SLOTS:-4}
MAX_AJ=${REFLOW_SGE_MAX_AJ_TASKS:-75000}
export SGE_ROOT=/var/lib/gridengine
export SGE_CELL=${REFLOW_SGE_CELL:-default}
export SGE_QMASTER_PORT=6444 SGE_EXECD_PORT=6445   # Debian's, also in /etc/services
HOST=$(hostname)
COMMON=$SGE_ROOT/$SGE_CELL/common
QSPOOL=/var/spool/gridengine/qmaster
ESPOOL=/var/spool/gridengine/execd
RUN=$BASE/run LOG=$BASE/log

log() { printf '[sge start %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01d s' $((t / 1000)) $((t % 1000 / 100)); }

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and start daemons)"
[[ $BASE == /?* ]] || die "REFLOW_SGE_BASE must be an absolute path, not '$BASE'"
for v in SLOTS MAX_AJ; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "REFLOW_SGE_$v must be a positive integer, not '${!v}'"
done
[[ $SGE_CELL =~ ^[A-Za-z0-9_.-]+$ ]] || die "REFLOW_SGE_CELL must be a plain name, not '$SGE_CELL'"

# alive PID COMM: PID runs and is COMM (not a zombie).
alive() {
  local st
  [[ $1 =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
  st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}
# pid_of NAME: the pid this script recorded for daemon NAME, if it still runs.
pid_of() { local pid; pid=$(cat "$RUN/$1.pid" 2>/dev/null) && alive "$pid" "$1" && echo "$pid"; }
wait_for() { local n=$1; shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

# ---------------------------------------------------------------- 1. base directory
# The default lives in /tmp: never follow a planted symlink or use a directory others control.
if [ -L "$BASE" ] || { [ -e "$BASE" ] && [ "$(stat -c %u:%A "$BASE")" != 0:drwxr-xr-x ]; }; then
  die "$BASE exists but is not a plain directory owned by root with mode 0755; remove it or pick another REFLOW_SGE_BASE"
fi
install -d -m 0755 "$BASE" "$RUN" "$LOG"
touch "$BASE/.reflow-sge-base"    # stop.sh wipes only a directory carrying this mark

# ---------------------------------------------------------------- 2. packages (+ the cell)
PKGS=(gridengine-master gridengine-exec gridengine-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${REFLOW_SGE_NO_APT:-0}" = 1 ] && die "missing packages: ${missing[*]} (REFLOW_SGE_NO_APT=1)"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  # The postinst of gridengine-common creates the cell from these answers.
  debconf-set-selections <<SEL
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string $SGE_CELL
gridengine-common shared/gridenginemaster string $HOST
SEL
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # no init system here: postinst must not start daemons
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # Wait for another apt or dpkg (up to 10 minutes) instead of failing on its lock.
  APT=(apt-get -q -o DPkg::Lock::Timeout=600)
  install_pkgs() { "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1; }
  log "apt-get install ${missing[*]}"
  if apt-cache policy "${missing[@]}" 2>/dev/null | grep 'Candidate: (none)' >/dev/null \
     || [ -z "$(apt-cache policy "${missing[0]}" 2>/dev/null)" ] || ! install_pkgs; then
    log "apt-get update"
    "${APT[@]}" update >>"$LOG/apt.log" 2>&1 || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get update failed"; }
    install_pkgs || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get install failed"; }
  fi
  log "packages installed ($(elapsed))"
fi
# A cell needs its bootstrap file and an initialised spool; the packages' postinst makes both
# on a first install, and this makes them again after stop.sh's REFLOW_SGE_WIPE=1.
if [ ! -s "$COMMON/bootstrap" ] || [ -z "$(ls -A /var/spool/gridengine/spooldb 2>/dev/null)" ]; then
  log "initialising cell $SGE_CELL"
  # A spool without its cell (left by an interrupted initialisation) would be kept as it is.
  [ -s "$COMMON/bootstrap" ] || rm -rf /var/spool/gridengine/spooldb
  install -d -o sgeadmin -g sgeadmin -m 0755 "$SGE_ROOT" "$SGE_ROOT/$SGE_CELL" "$COMMON" \
    "$QSPOOL" "$QSPOOL/job_scripts" /var/spool/gridengine/spooldb
  install -m 0644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
  su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL /var/spool/gridengine/spooldb sgeadmin" sgeadmin \
    >>"$LOG/init_cluster.log" 2>&1 || { tail -n 20 "$LOG/init_cluster.log" >&2; die "init_cluster failed"; }
fi
echo "$HOST" >"$COMMON/act_qmaster"   # sge_qmaster (as sgeadmin) writes it too
# SGE refuses a client whose address resolves to a name other than its own hostname
# ("access denied (client IP resolved to host name "localhost". This is not identical to
# clients host name "vm")"); /etc/hosts may list localhost first for 127.0.0.1. host_aliases
# makes every loopback name one SGE host. /etc/hosts is left alone.
aliases=$(awk '$1 ~ /^127\./ {for (i = 2; i <= NF; i++) print $i}' /etc/hosts | grep -vx "$HOST" | sort -u | tr '\n' ' ')
echo "$HOST ${aliases% }" >"$COMMON/host_aliases"
chown sgeadmin:sgeadmin "$COMMON/act_qmaster" "$COMMON/host_aliases"
install -d -o sgeadmin -g sgeadmin /var/run/gridengine "$ESPOOL"

# ---------------------------------------------------------------- 3. sge_qmaster
# The daemons fork into the background themselves and write their pid files in their spool
# directories; this script copies those pids to $RUN, and stop.sh stops only what is there.
if pid=$(pid_of sge_qmaster); then
  log "sge_qmaster already running (pid $pid)"
elif [ -s "$QSPOOL/qmaster.pid" ] && alive "$(cat "$QSPOOL/qmaster.pid")" sge_qmaster; then
  die "an sge_qmaster this script did not start runs (pid $(cat "$QSPOOL/qmaster.pid")); stop it first"
else
  rm -f "$QSPOOL/qmaster.pid"
  /usr/sbin/sge_qmaster >>"$LOG/sge_qmaster.out" 2>&1
  wait_for 150 test -s "$QSPOOL/qmaster.pid" || die "sge_qmaster wrote no pid file; see $QSPOOL/messages"
  cp "$QSPOOL/qmaster.pid" "$RUN/sge_qmaster.pid"
  wait_for 150 qconf -sh || { tail -n 20 "$QSPOOL/messages" >&2; die "sge_qmaster does not answer"; }
  log "sge_qmaster started (pid $(cat "$RUN/sge_qmaster.pid"))"
fi

# ---------------------------------------------------------------- 4. configuration
# conf ARGS...: qconf, its chatter ("root@vm modified ...") to qconf.log, shown on failure.
conf() { qconf "$@" >>"$LOG/qconf.log" 2>&1 || { tail -n 5 "$LOG/qconf.log" >&2; return 1; }; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# global: root may run jobs (min_uid/gid 0; sge_execd reads it when it starts), the
# accounting file is flushed every second (default 15 s: qacct would lag), max_aj_tasks.
qconf -sconf >"$T/global"
sed -i -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
  -e 's/flush_time=[0-9:]*/flush_time=00:00:01/' -e "s/^max_aj_tasks .*/max_aj_tasks $MAX_AJ/" "$T/global"
conf -Mconf "$T/global"   # the file's name must be the configuration's: global
# scheduler: one pass a second, and one as soon as a job is submitted or ends.
qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
  -e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' >"$T/sconf"
conf -Msconf "$T/sconf"
qconf -sh 2>/dev/null | grep -qx "$HOST" || conf -ah "$HOST"
qconf -ss 2>/dev/null | grep -qx "$HOST" || conf -as "$HOST"
if ! qconf -spl 2>/dev/null | grep -qx smp; then
  printf '%s\n' "pe_name smp" "slots 9999" "user_lists NONE" "xuser_lists NONE" \
    "start_proc_args NONE" "stop_proc_args NONE" 'allocation_rule $pe_slots' \
    "control_slaves FALSE" "job_is_first_task TRUE" "urgency_slots min" \
    "accounting_summary FALSE" "qsort_args NONE" >"$T/smp"
  conf -Ap "$T/smp"
fi
cat >"$T/all.q" <<Q
qname all.q
hostlist $HOST
seq_no 0
load_thresholds NONE
suspend_thresholds NONE
nsuspend 1
suspend_interval 00:05:00
priority 0
min_cpu_interval 00:05:00
processors UNDEFINED
qtype BATCH INTERACTIVE
ckpt_list NONE
pe_list smp
rerun FALSE
slots $SLOTS
tmpdir /tmp
shell /bin/sh
prolog NONE
epilog NONE
shell_start_mode unix_behavior
starter_method NONE
suspend_method NONE
resume_method NONE
terminate_method NONE
notify 00:00:60
owner_list NONE
user_lists NONE
xuser_lists NONE
subordinate_list NONE
complex_values NONE
projects NONE
xprojects NONE
calendar NONE
initial_state default
s_rt INFINITY
h_rt INFINITY
s_cpu INFINITY
h_cpu INFINITY
s_fsize INFINITY
h_fsize INFINITY
s_data INFINITY
h_data INFINITY
s_stack INFINITY
h_stack INFINITY
s_core INFINITY
h_core INFINITY
s_rss INFINITY
h_rss INFINITY
s_vmem INFINITY
h_vmem INFINITY
Q
if qconf -sql 2>/dev/null | grep -qx all.q; then
  conf -Mq "$T/all.q"
else
  conf -Aq "$T/all.q"
fi

# ---------------------------------------------------------------- 5. sge_execd
# Its spool directory is named after the host name the qmaster resolved (execd/localhost/).
epidfile() { ls "$ESPOOL"/*/execd.pid 2>/dev/null | head -n 1; }
if pid=$(pid_of sge_execd); then
  log "sge_execd already running (pid $pid)"
else
  f=$(epidfile || true)
  if [ -n "$f" ] && alive "$(cat "$f")" sge_execd; then
    die "an sge_execd this script did not start runs (pid $(cat "$f")); stop it first"
  fi
  [ -n "$f" ] && rm -f "$f"
  /usr/sbin/sge_execd >>"$LOG/sge_execd.out" 2>&1   # registers itself as the exec host
  wait_for 150 sh -c "ls $ESPOOL/*/execd.pid" || die "sge_execd wrote no pid file; see $ESPOOL/*/messages"
  cp "$(epidfile)" "$RUN/sge_execd.pid"
  log "sge_execd started (pid $(cat "$RUN/sge_execd.pid"))"
fi

# ---------------------------------------------------------------- 6. wait until usable
qmod -c "all.q@$HOST" >/dev/null 2>&1 || true   # clear an error state left by an earlier run
queue_ok() {   # columns: queuename qtype resv/used/tot load arch [states]: no states => usable
  local line
  line=$(qstat -f -q "all.q@$HOST" 2>/dev/null | grep '^all.q@') && [ "$(awk '{print NF}' <<<"$line")" = 5 ]
}
wait_for 300 queue_ok || { qstat -f >&2 || true; die "all.q@$HOST did not become usable"; }

printf '%s\n' "SGE_ROOT=$SGE_ROOT" "SGE_CELL=$SGE_CELL" "SGE_QMASTER_PORT=$SGE_QMASTER_PORT" \
  "SGE_EXECD_PORT=$SGE_EXECD_PORT" >"$BASE/cluster.env"
log "up in $(elapsed): host $HOST, all.q with $SLOTS slots, PE smp, max_aj_tasks $MAX_AJ"
echo "export SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL SGE_QMASTER_PORT=$SGE_QMASTER_PORT SGE_EXECD_PORT=$SGE_EXECD_PORT"
