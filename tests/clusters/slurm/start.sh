#!/usr/bin/env bash
# Start reflow's single-host Slurm test cluster (Slurm 22.05 from Debian 12) on 127.0.0.1:
# munged (unless one already answers), MariaDB + slurmdbd (so `sacct` works), slurmctld, slurmd.
#
# Run as root. Idempotent: while the cluster is up with the same settings it changes nothing;
# daemons that died are started again; changed settings restart the Slurm daemons.
# Installs what is missing with apt. Everything lives under one base directory, and the
# daemons listen on their own ports, so a Slurm cluster on Slurm's default ports (or another
# base directory's cluster on other ports) never receives this cluster's jobs.
#
# Log lines go to stderr; stdout gets only `export SLURM_CONF=...`, so this works:
#     eval "$(tests/clusters/slurm/start.sh)"
# The same line is in $REFLOW_SLURM_BASE/cluster.env (KEY=VALUE) for programs.
#
# Knobs (environment)                    default
#   REFLOW_SLURM_BASE                     /tmp/reflow-slurm  (absolute path)
#   REFLOW_SLURM_CPUS                     8     CPUs the node advertises (> real = oversubscribed)
#   REFLOW_SLURM_MAX_ARRAY                1001  MaxArraySize (largest array index + 1)
#   REFLOW_SLURM_CTLD_PORT                7817  slurmctld
#   REFLOW_SLURM_SLURMD_PORT              7818  slurmd
#   REFLOW_SLURM_DBD_PORT                 7819  slurmdbd
#   REFLOW_SLURM_MIN_JOB_AGE              600   s a finished job stays in squeue -t all / scontrol
#   REFLOW_SLURM_SCHED_PARAMS             batch_sched_delay=0  SchedulerParameters
#   REFLOW_SLURM_PBS_ENV                  0     1: load spank_pbs (jobs get PBS_JOBID, ...)
#   REFLOW_SLURM_NO_APT                   0     1: fail instead of calling apt-get
#   REFLOW_SLURM_NODE_PORTS               ""    several nodes: one `slurmd -N nK` per port listed
#                                               ("7950 7951 7952": nodes n1-n3), each with its
#                                               share of the memory; "": one node on SLURMD_PORT
#   REFLOW_SLURM_KILL_WAIT                5     s between SIGTERM and SIGKILL (KillWait)
#   REFLOW_SLURM_ACCT_GATHER_PARAMS       ""    JobAcctGatherParams, e.g. OverMemoryKill
#   REFLOW_SLURM_ACCT_FREQ                30    s between samples of a job's memory
#   REFLOW_SLURM_SLURMD_TIMEOUT           300   s before a silent node is DOWN (NODE_FAIL)
#   REFLOW_SLURM_PREEMPT                  0     1: partitions low (requeued when preempted) and
#                                               high, PreemptType=preempt/partition_prio
#   REFLOW_SLURM_JOB_REQUEUE              1     JobRequeue (0: a job is requeued only if asked)
# MariaDB listens on no TCP port: slurmdbd reaches it on a unix socket under the base dir,
# as MariaDB's root user with socket authentication, so there is no password anywhere.
set -Eeuo pipefail

T0=$(date +%s%N)
BASE=${REFLOW_SLURM_BASE:-/tmp/reflow-slurm}
CPUS=${REFLOW_SLURM_CPUS:-8}
MAX_ARRAY=${REFLOW_SLURM_MAX_ARRAY:-1001}
CTLD_PORT=${REFLOW_SLURM_CTLD_PORT:-7817}
SLURMD_PORT=${REFLOW_SLURM_SLURMD_PORT:-7818}
DBD_PORT=${REFLOW_SLURM_DBD_PORT:-7819}
MIN_JOB_AGE=${REFLOW_SLURM_MIN_JOB_AGE:-600}
SCHED_PARAMS=${REFLOW_SLURM_SCHED_PARAMS-batch_sched_delay=0}
PBS_ENV=${REFLOW_SLURM_PBS_ENV:-0}
NODE_PORTS=${REFLOW_SLURM_NODE_PORTS:-}
KILL_WAIT=${REFLOW_SLURM_KILL_WAIT:-5}
ACCT_GATHER_PARAMS=${REFLOW_SLURM_ACCT_GATHER_PARAMS:-}
ACCT_FREQ=${REFLOW_SLURM_ACCT_FREQ:-30}
SLURMD_TIMEOUT=${REFLOW_SLURM_SLURMD_TIMEOUT:-300}
PREEMPT=${REFLOW_SLURM_PREEMPT:-0}
JOB_REQUEUE=${REFLOW_SLURM_JOB_REQUEUE:-1}
CLUSTER=reflowtest

ETC=$BASE/etc RUN=$BASE/run LOG=$BASE/log MUNGE=$BASE/munge
# The daemons write their own pid files in $DPID, never in $RUN: a daemon truncates its file
# and then writes it, so a reader of $RUN/NAME.pid (written only by launch) at that instant
# would take a live daemon for a dead one.
DPID=$BASE/run/daemons
DB=$BASE/db/data DBRUN=$BASE/db/run SOCK=$BASE/db/run/mysqld.sock
export SLURM_CONF=$ETC/slurm.conf

log() { printf '[slurm start %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: line $LINENO failed: $BASH_COMMAND"' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01d s' $((t / 1000)) $((t % 1000 / 100)); }

[ "$(id -u)" = 0 ] || die "run me as root (I install packages, mount cgroups and start daemons)"
[[ $BASE == /?* ]] || die "REFLOW_SLURM_BASE must be an absolute path, not '$BASE'"
for v in CPUS MAX_ARRAY CTLD_PORT SLURMD_PORT DBD_PORT MIN_JOB_AGE KILL_WAIT ACCT_FREQ SLURMD_TIMEOUT $(for p in $NODE_PORTS; do echo "p_$p"; done); do
  [[ $v == p_* ]] && { [[ ${v#p_} =~ ^[1-9][0-9]*$ ]] || die "REFLOW_SLURM_NODE_PORTS must list port numbers, not '${v#p_}'"; continue; }
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "REFLOW_SLURM_$v must be a positive integer, not '${!v}'"
done

# pid_of NAME COMM: the pid recorded in $RUN/NAME.pid if that process is alive and is COMM.
pid_of() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# launch NAME COMM PORT CMD...: run CMD in the foreground mode of the daemon, in its own
# session, in the background; record its pid (setsid execs, so $! is the daemon itself).
launch() {
  local name=$1 comm=$2 port=$3; shift 3
  if pid_of "$name" "$comm" >/dev/null; then log "$name already running (pid $(pid_of "$name" "$comm"))"; return; fi
  if [ "$port" != - ] && port_taken "$port"; then
    die "port $port (for $name) is taken by a process this script did not start; pick another with REFLOW_SLURM_*_PORT"
  fi
  setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
  echo $! >"$RUN/$name.pid"
  log "$name started (pid $!)"
}
# running PID: the process exists and is not a zombie.
running() { local st; st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
# check_up NAME COMM TRIES CMD...: wait for CMD to succeed while the daemon stays alive
# (right after launch its pid may still show setsid/env/setpriv until they exec it).
check_up() {
  local name=$1 comm=$2 n=$3 pid; shift 3
  pid=$(cat "$RUN/$name.pid")
  for _ in $(seq "$n"); do
    running "$pid" || { tail -n 20 "$LOG/$name.out" "$LOG/$name.log" 2>/dev/null >&2; die "$name exited"; }
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "$LOG/$name.out" "$LOG/$name.log" 2>/dev/null >&2
  die "$name did not answer in time: $*"
}
# stop NAME...: SIGTERM these recorded Slurm daemons together, wait (20 s at most), SIGKILL.
# slurmd-nK (one node of several) is a slurmd.
stop() {
  local name pid pids=()
  for name in "$@"; do
    if pid=$(pid_of "$name" "${name%%-*}"); then kill -TERM "$pid"; pids+=("$pid"); fi
    rm -f "$RUN/$name.pid"
  done
  local left
  for _ in $(seq 200); do
    left=0
    for pid in "${pids[@]}"; do running "$pid" && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do running "$pid" && kill -KILL "$pid"; done
  log "stopped $* (pids ${pids[*]})"
}

# ---------------------------------------------------------------- 1. base directory
# The default lives in /tmp: never follow a planted symlink or use a directory others control.
if [ -L "$BASE" ] || { [ -e "$BASE" ] && [ "$(stat -c %u:%A "$BASE")" != 0:drwxr-xr-x ]; }; then
  die "$BASE exists but is not a plain directory owned by root with mode 0755; remove it or pick another REFLOW_SLURM_BASE"
fi
install -d -m 0755 "$BASE" "$ETC" "$RUN" "$DPID" "$LOG" "$BASE/state" "$BASE/spool" "$BASE/db"
touch "$BASE/.reflow-slurm-base"    # stop.sh wipes only a directory carrying this mark

# ---------------------------------------------------------------- 2. packages
PKGS=(slurm-wlm slurmctld slurmd slurm-client slurmdbd slurm-wlm-basic-plugins
      munge mariadb-server)
# slurm-wlm-torque (Slurm's Torque wrappers) is not installed: it conflicts with gridengine-client
# (both ship /usr/bin/qsub). tests/clusters/pbs-torque/start.sh unpacks its own copy of it.
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${REFLOW_SLURM_NO_APT:-0}" = 1 ] && die "missing packages: ${missing[*]} (REFLOW_SLURM_NO_APT=1)"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # no init system here: postinst must not start daemons
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  install_pkgs() { apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG/apt.log" 2>&1; }
  log "apt-get install ${missing[*]}"
  # Update the package lists once, and only when they are empty, lack a package, or are stale.
  if apt-cache policy "${missing[@]}" 2>/dev/null | grep 'Candidate: (none)' >/dev/null \
     || [ -z "$(apt-cache policy "${missing[0]}" 2>/dev/null)" ] || ! install_pkgs; then
    log "apt-get update"
    apt-get update -q >>"$LOG/apt.log" 2>&1 || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get update failed"; }
    install_pkgs || { tail -n 30 "$LOG/apt.log" >&2; die "apt-get install failed"; }
  fi
  log "packages installed ($(elapsed))"
fi

# mariadbd runs as mysql and munged as munge: their own dirs belong to them.
install -d -o mysql -g mysql -m 0750 "$DB" "$DBRUN"
install -d -o munge -g munge -m 0700 "$MUNGE"

# ---------------------------------------------------------------- 3. munged
# Slurm's clients and daemons use the system munged's socket (/run/munge). Start one only if
# none answers, and record its pid: stop.sh stops munged only when that file says it is ours.
# Its log, pid and seed files go under the base dir.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  pid_of munged munged >/dev/null || log "munged already running (not ours: left alone)"
else
  rm -f "$RUN/munged.pid"
  install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then   # Debian's postinst normally creates it
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock   # stale: nothing answers
  launch munged munged - setpriv --reuid=munge --regid=munge --init-groups munged --foreground \
    --log-file="$MUNGE/munged.log" --pid-file="$MUNGE/munged.pid" --seed-file="$MUNGE/munged.seed"
  check_up munged munged 50 sh -c 'munge -n | unmunge'
fi

# ---------------------------------------------------------------- 4. cgroup file system
# slurmd 22.05 initialises its cgroup plugin even with proctrack/linuxproc and task/none, and
# needs /sys/fs/cgroup to be pure cgroup v2, or a tmpfs holding a v1 name=systemd hierarchy
# ("No filesystem mounted on /sys/fs/cgroup" otherwise; a cgroup2 mount on a v1 host is fatal).
# Mount the smallest v1 layout it accepts when there is none. Left mounted by stop.sh.
if ! mountpoint -q /sys/fs/cgroup; then
  log "nothing on /sys/fs/cgroup: mounting a tmpfs there"
  mount -t tmpfs -o mode=0755 cgroup_root /sys/fs/cgroup
fi
if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && ! mountpoint -q /sys/fs/cgroup/systemd; then
  log "mounting a name=systemd cgroup v1 hierarchy on /sys/fs/cgroup/systemd"
  mkdir -p /sys/fs/cgroup/systemd
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
fi

# ---------------------------------------------------------------- 5. configuration
NODE=$(hostname -s)
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 9 / 10240 ))   # 90% of RAM
# Several nodes on this host: nK, each its own slurmd (-N nK) on its own port, with %n in the
# slurmd's own files so they do not share a spool directory, pid or log file.
read -r -a PORTS <<<"$NODE_PORTS"
SLURMDS=() NODE_LINES="NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN"
SLURMD_FILES="SlurmdSpoolDir=$BASE/spool
SlurmdPidFile=$DPID/slurmd.pid
SlurmdLogFile=$LOG/slurmd.log"
if [ ${#PORTS[@]} -gt 0 ]; then
  NODE_LINES="" SLURMD_FILES="SlurmdSpoolDir=$BASE/spool/%n
SlurmdPidFile=$DPID/slurmd-%n.pid
SlurmdLogFile=$LOG/slurmd-%n.log"
  for i in "${!PORTS[@]}"; do
    SLURMDS+=("n$((i + 1)):${PORTS[i]}")
    install -d -m 0755 "$BASE/spool/n$((i + 1))"
    NODE_LINES+="NodeName=n$((i + 1)) NodeAddr=127.0.0.1 NodeHostname=$NODE Port=${PORTS[i]} CPUs=$CPUS RealMemory=$(( MEM_MB / ${#PORTS[@]} )) State=UNKNOWN
"
  done
fi
PARTITIONS="PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=debug Nodes=ALL MaxTime=01:00:00 State=UP"
if [ "$PREEMPT" = 1 ]; then
  # Only jobs of low are preemptable: main and debug say PreemptMode=OFF.
  PARTITIONS="${PARTITIONS//State=UP/PreemptMode=OFF State=UP}
# A job in high preempts (requeues) jobs in low on the nodes it needs.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=low Nodes=ALL MaxTime=INFINITE PriorityTier=1 PreemptMode=REQUEUE State=UP
PartitionName=high Nodes=ALL MaxTime=INFINITE PriorityTier=10 PreemptMode=OFF State=UP"
fi
PLUGSTACK=""
if [ "$PBS_ENV" = 1 ]; then
  spank=$(dpkg -L slurm-wlm-basic-plugins | grep -m 1 '/spank_pbs\.so$' || true)
  [ -n "$spank" ] || die "REFLOW_SLURM_PBS_ENV=1 but slurm-wlm-basic-plugins has no spank_pbs.so"
  PLUGSTACK="optional $spank"
fi

write() {  # FILE: stdin -> FILE.new; sets changed=1 when it differs from FILE
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv -f "$1.new" "$1"; changed=1; fi
}
changed=0
write "$ETC/slurm.conf" <<EOF
# Written by reflow's tests/clusters/slurm/start.sh: single-host test cluster. Do not edit.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$BASE/state
SlurmctldPidFile=$DPID/slurmctld.pid
SlurmctldLogFile=$LOG/slurmctld.log
$SLURMD_FILES
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$ETC/plugstack.conf
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
# Scheduling tuned for tests: start jobs as soon as they are submitted.
SchedulerType=sched/backfill
${SCHED_PARAMS:+SchedulerParameters=$SCHED_PARAMS}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, every job is given the whole node's memory: one job at a time.
DefMemPerCPU=256
# A job whose dependency can never be met is cancelled instead of pending forever.
DependencyParameters=kill_invalid_depend
# Finished jobs stay in squeue -t all / scontrol show job this long (s).
MinJobAge=$MIN_JOB_AGE
MaxArraySize=$MAX_ARRAY
MaxJobCount=$(( MAX_ARRAY * 2 > 10000 ? MAX_ARRAY * 2 : 10000 ))
# Seconds between SIGTERM and SIGKILL on scancel / time limit (Slurm's default is 30).
KillWait=$KILL_WAIT
SlurmdTimeout=$SLURMD_TIMEOUT
JobRequeue=$JOB_REQUEUE
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=$ACCT_FREQ
${ACCT_GATHER_PARAMS:+JobAcctGatherParams=$ACCT_GATHER_PARAMS}
JobCompType=jobcomp/none
# CPUs may exceed the real cores: the node takes this line as it is.
SlurmdParameters=config_overrides
$NODE_LINES
$PARTITIONS
EOF
write "$ETC/slurmdbd.conf" <<EOF
# Written by reflow's tests/clusters/slurm/start.sh. Do not edit.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$DPID/slurmdbd.pid
StorageType=accounting_storage/mysql
# "localhost" makes the client library use the unix socket named by MYSQL_UNIX_PORT.
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
chmod 0600 "$ETC/slurmdbd.conf"
write "$ETC/plugstack.conf" <<<"$PLUGSTACK"
printf 'SLURM_CONF=%s\n' "$SLURM_CONF" >"$BASE/cluster.env"

if [ "$changed" = 1 ] && { pid_of slurmctld slurmctld || pid_of slurmd slurmd || pid_of slurmdbd slurmdbd; } >/dev/null; then
  log "settings changed: restarting the Slurm daemons"
  stop slurmd $(for n in "${SLURMDS[@]}"; do echo "slurmd-${n%%:*}"; done) slurmctld slurmdbd
fi

# ---------------------------------------------------------------- 6. MariaDB + slurmdbd
if [ ! -d "$DB/mysql" ]; then
  log "initialising the MariaDB datadir"
  mariadb-install-db --no-defaults --user=mysql --datadir="$DB" --skip-test-db \
    --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1 \
    || { tail -n 20 "$LOG/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
fi
launch mariadbd mariadbd - mariadbd --no-defaults --user=mysql --datadir="$DB" \
  --socket="$SOCK" --skip-networking --pid-file="$DBRUN/mariadbd.pid" \
  --log-error="$DBRUN/mariadbd.err" --innodb-buffer-pool-size=512M \
  --innodb-flush-log-at-trx-commit=2 --innodb-lock-wait-timeout=900
check_up mariadbd mariadbd 300 mariadb --no-defaults --socket="$SOCK" -uroot -e 'SELECT 1'
launch slurmdbd slurmdbd "$DBD_PORT" env MYSQL_UNIX_PORT="$SOCK" slurmdbd -D
check_up slurmdbd slurmdbd 200 sacctmgr -n -P show cluster

# ---------------------------------------------------------------- 7. slurmctld + slurmd
launch slurmctld slurmctld "$CTLD_PORT" slurmctld -D -f "$SLURM_CONF"
check_up slurmctld slurmctld 200 sh -c 'scontrol ping | grep -q "is UP"'
node_ready() { [[ $(sinfo -h -n "$1" -o %T 2>/dev/null) =~ ^(idle|mixed|allocated)$ ]]; }
if [ ${#SLURMDS[@]} = 0 ]; then
  launch slurmd slurmd "$SLURMD_PORT" slurmd -D -f "$SLURM_CONF" -N "$NODE"
  check_up slurmd slurmd 300 node_ready "$NODE"
else
  for n in "${SLURMDS[@]}"; do
    launch "slurmd-${n%%:*}" slurmd "${n#*:}" slurmd -D -f "$SLURM_CONF" -N "${n%%:*}"
  done
  for n in "${SLURMDS[@]}"; do
    # A node that was DOWN (its slurmd killed by a test) is told to come back.
    scontrol update nodename="${n%%:*}" state=resume >/dev/null 2>&1 || true
    check_up "slurmd-${n%%:*}" slurmd 300 node_ready "${n%%:*}"
  done
fi

# ---------------------------------------------------------------- 8. wait until usable
# The cluster registers with slurmdbd on its own; sacct must know it before jobs are recorded.
check_up slurmdbd slurmdbd 300 sh -c "sacctmgr -n -P show cluster format=cluster | grep -qx $CLUSTER && sacct -n -X -S now"

log "up in $(elapsed): node(s) $(sinfo -h -N -o %N | sort -u | tr '\n' ' ')$CPUS CPUs each, ${MEM_MB} MB, partitions $(sinfo -h -o %P | tr '\n' ' ')logs in $LOG"
log "point clients at it with:  export SLURM_CONF=$SLURM_CONF"
echo "export SLURM_CONF=$SLURM_CONF"
