#!/usr/bin/env bash
# Records the real Grid Engine outputs the parser tests read (see README.md here).
#
# Run against the single-host test cell (eval "$(tests/clusters/sge/start.sh)") with no other
# jobs: it submits jobs, deletes some, lets some run out of walltime or kill themselves, and
# writes what qsub, qstat, qacct, qdel and qconf print into this directory. About a minute.
# At the end it stops the qmaster (qconf -km) to record what clients say then.
# Usage: bash record.sh [OUTPUT_DIR]
set -uo pipefail

OUT=$(cd "${1:-$(dirname "$0")}" && pwd)
WORK=$(mktemp -d /tmp/reflow-sge-record.XXXXXX)
cd "$WORK" || exit 1
USER_NAME=$(id -un)
BEGIN=$(date +%Y%m%d%H%M.%S)
: > "$OUT/commands.txt"
: > "$OUT/jobs.txt"
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
sub() { qsub -terse -S /bin/bash -wd "$WORK" -o "$WORK" -e "$WORK" "$@" | head -n 1; }
id_of() { cut -d. -f1 <<<"$1"; }
accounted() { # ID COUNT: wait (60 s at most) until qacct has COUNT records of the job
  for _ in $(seq 300); do
    [ "$(qacct -j "$1" 2>/dev/null | grep -c '^jobnumber')" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "no accounting of job $1" >&2; return 1
}
gone() { for _ in $(seq 600); do qstat -j "$1" >/dev/null 2>&1 || return 0; sleep 0.2; done; }

capture qconf_sconf qconf -sconf

# -- submissions: the -terse ids of a job and an array, and refusals
capture qsub_terse qsub -terse -S /bin/bash -wd "$WORK" -o "$WORK" -e "$WORK" -N rec_ok -b y true
OK=$(id_of "$(cat "$OUT/qsub_terse.txt")"); role ok "$OK"
capture qsub_terse_array qsub -terse -S /bin/bash -wd "$WORK" -o "$WORK" -e "$WORK" -N rec_array -t 1-6 -tc 2 -b y sleep 2
ARRAY=$(id_of "$(cat "$OUT/qsub_terse_array.txt")"); role array "$ARRAY"
capture qsub_unknown_queue qsub -terse -q no_such_queue -b y true
capture qsub_unknown_pe qsub -terse -pe no_such_pe 2 -b y true
capture qsub_too_many_tasks qsub -terse -t 1-$(( $(qconf -sconf | awk '$1 == "max_aj_tasks" {print $2}') + 1 )) -b y true

# -- live states: running, held, pending array tasks with -tc, an error state, a deletion
printf '#!/bin/bash\nexit 3\n' > exit3.sh
EXIT3=$(sub -N rec_exit3 exit3.sh); role exit3 "$EXIT3"
LONG=$(sub -N rec_long -b y sleep 300); role long "$LONG"
HELD=$(sub -N rec_held -hold_jid "$LONG" -b y true); role held "$HELD"
PEND=$(id_of "$(sub -N rec_tasks -t 1-4 -hold_jid "$LONG" -b y sleep 300)"); role tasks "$PEND"
BADWD=$(qsub -terse -S /bin/bash -wd /nonexistent/reflow -o /tmp -e /tmp -N rec_badwd -b y true); role badwd "$BADWD"
printf '#!/bin/bash\nexec python3 -c "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"\n' > kill.sh
KILL=$(sub -N rec_sigkill kill.sh); role sigkill "$KILL"
printf '#!/bin/bash\nexec python3 -c "import time; time.sleep(600)"\n' > sleep.sh
HRT=$(sub -N rec_h_rt -l h_rt=5 sleep.sh); role h_rt "$HRT"
SRT=$(sub -N rec_s_rt -l h_rt=10,s_rt=5 sleep.sh); role s_rt "$SRT"
sleep 3
for _ in $(seq 100); do qstat -u "$USER_NAME" | grep -q ' Eqw ' && break; sleep 0.2; done
capture qstat_xml_mixed qstat -xml -u "$USER_NAME"
capture qstat_j_array qstat -j "$ARRAY"

# -- deletions: a running job, one pending task, an unknown job, a job already deleting
capture qdel_running qdel "$LONG"
capture qdel_task qdel "$PEND.2"
capture qdel_unknown qdel 9999999 "$PEND.9"
capture qstat_xml_deleting qstat -xml -u "$USER_NAME"
capture qdel_again qdel "$LONG"
qdel "$PEND" "$BADWD" >/dev/null 2>&1

# -- accounting
accounted "$OK" 1; accounted "$EXIT3" 1; accounted "$ARRAY" 6; accounted "$KILL" 1
accounted "$HRT" 1; accounted "$SRT" 1; accounted "$LONG" 1; gone "$HELD"; accounted "$HELD" 1
capture qacct_ok qacct -j "$OK"
capture qacct_exit3 qacct -j "$EXIT3"
capture qacct_array qacct -j "$ARRAY"
capture qacct_deleted qacct -j "$LONG"
capture qacct_sigkill qacct -j "$KILL"
capture qacct_h_rt qacct -j "$HRT"
capture qacct_s_rt qacct -j "$SRT"
capture qacct_unknown qacct -j 9999999
capture qacct_none qacct -o nobody -j '*'
capture qacct_since qacct -o "$USER_NAME" -b "$BEGIN" -j '*'
capture qstat_xml_empty qstat -xml -u nobody

# -- the qmaster down: what clients say (reflow retries these). Stops the qmaster: start.sh
# starts it again.
qconf -km >/dev/null 2>&1
for _ in $(seq 150); do qstat >/dev/null 2>&1 || break; sleep 0.2; done
capture qstat_no_qmaster qstat -xml -u "$USER_NAME"
capture qsub_no_qmaster qsub -terse -b y true
capture qdel_no_qmaster qdel 1
echo "recorded into $OUT (work files in $WORK); the qmaster is stopped: run start.sh again"
