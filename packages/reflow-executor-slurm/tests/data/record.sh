#!/usr/bin/env bash
# Records the real Slurm outputs the parser tests read (see README.md here).
#
# Run against a single-host test cluster (eval "$(tests/clusters/slurm/start.sh)")
# with no other jobs: it submits jobs, cancels some, takes a node down and up again,
# and writes what sbatch, squeue, sacct, scancel and scontrol print into this directory.
# It takes about three minutes.  Usage: bash record.sh [OUTPUT_DIR]
set -uo pipefail

OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
WORK=$(mktemp -d /tmp/reflow-slurm-record.XXXXXX)
cd "$WORK" || exit 1
mkdir -p logs
NODE=$(sinfo -h -o %N | head -1)

# The formats SlurmExecutor uses (reflow_executor_slurm.states).
SQ_FIELDS='JobArrayID:|,State:|,exit_code:|,Reason:|'
SA_FIELDS='JobID,State,ExitCode,Reason'

: > "$OUT/jobs.txt"
: > "$OUT/commands.txt"
role() { echo "$1=$2" >> "$OUT/jobs.txt"; }

# capture NAME CMD...: stdout to NAME.txt, stderr to NAME.stderr.txt (if any), rc logged.
capture() {
  local name=$1; shift
  "$@" > "$OUT/$name.txt" 2> "$OUT/$name.stderr.txt"
  local rc=$?
  [ -s "$OUT/$name.stderr.txt" ] || rm -f "$OUT/$name.stderr.txt"
  printf '%s\trc=%s\t%s\n' "$name" "$rc" "$*" >> "$OUT/commands.txt"
  return 0
}
sq() { local name=$1 ids=$2; capture "$name" squeue -h -t all -j "$ids" -O "$SQ_FIELDS"; }
sa() { local name=$1 ids=$2; capture "$name" sacct -n -P -X -j "$ids" --format="$SA_FIELDS"; }
state_of() { squeue -h -t all -j "$1" -o %T 2>/dev/null | sort -u | paste -sd' '; }
wait_state() { # id state... (up to 120 s)
  local id=$1; shift
  for _ in $(seq 600); do
    local s; s=$(state_of "$id")
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    sleep 0.2
  done
  echo "timeout waiting for $id to be $*" >&2; return 1
}
script() { # name body...
  local name=$1; shift
  { echo '#!/bin/bash'; echo "#SBATCH --output=$WORK/logs/%x-%A_%a.out"; printf '%s\n' "$@"; } > "$name.sh"
}
sub() { sbatch --parsable "$@"; }

capture scontrol_show_config scontrol show config
capture scontrol_ping scontrol ping
capture sbatch_version sbatch --version

# -- quoting: what sbatch makes of directives written by reflow_executor_slurm.script.quote
cat > quoted.sh <<'SCRIPT'
#!/bin/bash
#SBATCH --job-name="a \"quoted\" name #1 with 'single' and back\\slash %x"
#SBATCH --comment="a b#c"
#SBATCH --hold
true
SCRIPT
cp quoted.sh "$OUT/quoted_script.sh"
QUOTED=$(sub quoted.sh); role quoted "$QUOTED"
capture scontrol_show_job_quoted scontrol show job "$QUOTED"
scancel "$QUOTED"

# -- phase A: quick jobs ---------------------------------------------------------------
script ok 'echo fine'
script exit3 'exit 3'
script sig9 'kill -9 $$'
script oom '#SBATCH --mem=16M' 'python3 -c "b = bytearray(512 * 2**20); b[::4096] = b\"x\" * len(b[::4096])"'
script hold 'echo held'
script sleeper 'sleep 300'
script short 'sleep 3'

OK=$(sub -J ok ok.sh); role ok "$OK"
capture sbatch_parsable sbatch --parsable -J ok2 ok.sh; role ok2 "$(cat "$OUT/sbatch_parsable.txt")"
capture sbatch_parsable_cluster sbatch --parsable -M "$(scontrol show config | sed -n 's/^ClusterName *= *//p')" -J ok3 ok.sh
role ok3 "$(cut -d';' -f1 "$OUT/sbatch_parsable_cluster.txt")"
capture sbatch_plain sbatch -J ok4 ok.sh; role ok4 "$(awk '{print $4}' "$OUT/sbatch_plain.txt")"
E3=$(sub -J exit3 exit3.sh); role exit3 "$E3"
S9=$(sub -J sig9 sig9.sh); role sig9 "$S9"
OOM=$(sub -J oom oom.sh); role oom "$OOM"
HOLD=$(sub -J hold --hold hold.sh); role hold "$HOLD"
NEVER=$(sub -J dep-never --dependency=afterok:"$E3" ok.sh); role dep_never "$NEVER"
KILLED=$(sub -J dep-kill --dependency=afterok:"$E3" --kill-on-invalid-dep=yes ok.sh); role dep_kill "$KILLED"
DEPOK=$(sub -J dep-ok --dependency=afterok:"$OK",afterany:"$E3" --kill-on-invalid-dep=yes ok.sh)
role dep_ok "$DEPOK"
A="$OK,$E3,$S9,$OOM,$HOLD,$NEVER,$KILLED,$DEPOK"
sq squeue_a_submitted "$A"
for id in "$OK" "$E3" "$S9" "$OOM" "$DEPOK"; do wait_state "$id" COMPLETED FAILED OUT_OF_MEMORY; done
wait_state "$KILLED" CANCELLED
sleep 2
sq squeue_a_ended "$A"
sa sacct_a_ended "$A"

# -- errors -----------------------------------------------------------------------------
capture squeue_unknown_one squeue -h -t all -j 999999999 -O "$SQ_FIELDS"
capture squeue_unknown_mixed squeue -h -t all -j "$OK,999999999" -O "$SQ_FIELDS"
capture sacct_unknown sacct -n -P -X -j 999999999 --format="$SA_FIELDS"
capture scancel_ended_and_unknown scancel "$OK" 999999999
capture sbatch_bad_partition sbatch --parsable -p nosuchpartition ok.sh
# Slurm 22.05 accepts a dependency on an unknown job and treats it as satisfied.
capture sbatch_bad_dependency sbatch --parsable --dependency=afterok:999999999 ok.sh
role bad_dependency "$(cat "$OUT/sbatch_bad_dependency.txt")"
capture sbatch_array_too_big sbatch --parsable --array=0-"$(scontrol show config | sed -n 's/^MaxArraySize *= *//p')" ok.sh
printf '#!/bin/bash\n#SBATCH --no-such-option=1\ntrue\n' > badopt.sh
capture sbatch_bad_option sbatch --parsable badopt.sh
scancel "$HOLD" "$NEVER"

# -- phase B: walltime, arrays, cancel, requeue, suspend ------------------------------
TO=$(sub -J timeout --time=1 sleeper.sh); role timeout "$TO"
wait_state "$TO" RUNNING
ARR=$(sub -J throttled --array=0-5%2 short.sh); role array_throttle "$ARR"
sleep 2
sq squeue_array_running "$ARR"
sa sacct_array_running "$ARR"
FRAG=$(sub -J frag --array=0-199 --dependency=afterany:"$TO" short.sh); role array_frag "$FRAG"
gone=(); for i in $(seq 0 199); do (( i % 3 == 1 || i % 7 == 2 )) && gone+=("${FRAG}_$i"); done
scancel "${gone[@]}"   # leaves an irregular set of waiting tasks
sleep 1
sq squeue_array_fragmented_default "$FRAG"
SLURM_BITSTR_LEN=0 sq squeue_array_fragmented "$FRAG"
SLURM_BITSTR_LEN=0 sa sacct_array_fragmented "$FRAG"
scancel "$FRAG"
wait_state "${ARR}" COMPLETED
sleep 2
sq squeue_array_done "$ARR"
sa sacct_array_done "$ARR"

CR=$(sub -J cancel-running sleeper.sh); role cancel_running "$CR"
wait_state "$CR" RUNNING
capture scancel_running scancel "$CR"
wait_state "$CR" CANCELLED
AC=$(sub -J elements --array=0-3%1 sleeper.sh); role array_cancel "$AC"
wait_state "${AC}_0" RUNNING
capture scancel_elements scancel "${AC}_0" "${AC}_2"
sleep 2
sq squeue_array_elements_cancelled "$AC"
sa sacct_array_elements_cancelled "$AC"
scancel "$AC"

RQ=$(sub -J requeue --requeue sleeper.sh); role requeue "$RQ"
wait_state "$RQ" RUNNING
scontrol requeue "$RQ"
sq squeue_requeued "$RQ"
sleep 1
sa sacct_requeued "$RQ"
capture sacct_requeued_duplicates sacct -n -P -X -D -j "$RQ" --format="$SA_FIELDS"
scancel "$RQ"
SU=$(sub -J suspend sleeper.sh); role suspend "$SU"
wait_state "$SU" RUNNING
scontrol suspend "$SU"
sleep 1
sq squeue_suspended "$SU"
sa sacct_suspended "$SU"
scontrol resume "$SU"; scancel "$SU"
DL=$(sub -J deadline --time=1 --deadline=now+5 --dependency=afterany:"$TO" ok.sh); role deadline "$DL"

wait_state "$TO" TIMEOUT
sleep 3
B="$TO,$ARR,$CR,$AC,$RQ,$SU,$DL"
sq squeue_b_ended "$B"
sa sacct_b_ended "$B"

# -- phase C: a node failure, without and with requeue ---------------------------------
node_up() {
  scontrol update nodename="$NODE" state=resume 2>/dev/null  # ReturnToService=2 may have done it
  for _ in $(seq 300); do sinfo -h -o %t | grep -qE '^(idle|mix)$' && return 0; sleep 0.2; done
}
NF=$(sub -J node-fail --no-requeue sleeper.sh); role node_fail "$NF"
wait_state "$NF" RUNNING
scontrol update nodename="$NODE" state=down reason=reflow-recording
wait_state "$NF" NODE_FAIL
sleep 2
sq squeue_node_fail "$NF"
sa sacct_node_fail "$NF"
node_up
NR=$(sub -J node-fail-requeue --requeue sleeper.sh); role node_fail_requeued "$NR"
wait_state "$NR" RUNNING
scontrol update nodename="$NODE" state=down reason=reflow-recording
sleep 2
sq squeue_node_fail_requeued "$NR"
sa sacct_node_fail_requeued "$NR"
capture sacct_node_fail_requeued_duplicates sacct -n -P -X -D -j "$NR" --format="$SA_FIELDS"
node_up
scancel "$NR"
sleep 2
NF="$NF,$NR"

sq squeue_all "$A,$B,$NF"
sa sacct_all "$A,$B,$NF"
echo "recorded in $OUT (work files in $WORK)"
