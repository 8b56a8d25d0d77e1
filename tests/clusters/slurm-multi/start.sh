#!/usr/bin/env bash
# Start reflow's multi-node Slurm test cluster: tests/clusters/slurm/start.sh with three nodes
# (n1-n3: one `slurmd -N nK` each, on its own port, on this machine), memory enforced as sites
# without cgroups do (jobacct_gather/linux with OverMemoryKill, sampled every second), a
# preemptable partition (low, requeued by jobs of high), nodes DOWN 10 s after their slurmd
# stops answering, and no requeue unless a job asks (reflow retries by reason itself).
#
# Knobs (environment)                    default
#   REFLOW_SLURM_MULTI_BASE               /tmp/reflow-slurm-multi
#   REFLOW_SLURM_MULTI_PORTS              "7837 7838 7839 7840 7841 7842": slurmctld, (unused
#                                         single-node slurmd), slurmdbd, then one per node
# Other REFLOW_SLURM_* knobs of ../slurm/start.sh apply. Stop with ./stop.sh (same env).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r -a ports <<<"${REFLOW_SLURM_MULTI_PORTS:-7837 7838 7839 7840 7841 7842}"
[ ${#ports[@]} -ge 4 ] || { echo "REFLOW_SLURM_MULTI_PORTS needs at least 4 ports" >&2; exit 1; }
export REFLOW_SLURM_BASE=${REFLOW_SLURM_MULTI_BASE:-/tmp/reflow-slurm-multi}
export REFLOW_SLURM_CTLD_PORT=${ports[0]} REFLOW_SLURM_SLURMD_PORT=${ports[1]}
export REFLOW_SLURM_DBD_PORT=${ports[2]} REFLOW_SLURM_NODE_PORTS="${ports[*]:3}"
export REFLOW_SLURM_CPUS=${REFLOW_SLURM_CPUS:-4}
export REFLOW_SLURM_KILL_WAIT=${REFLOW_SLURM_KILL_WAIT:-2}
export REFLOW_SLURM_ACCT_GATHER_PARAMS=${REFLOW_SLURM_ACCT_GATHER_PARAMS:-OverMemoryKill}
export REFLOW_SLURM_ACCT_FREQ=${REFLOW_SLURM_ACCT_FREQ:-1}
export REFLOW_SLURM_SLURMD_TIMEOUT=${REFLOW_SLURM_SLURMD_TIMEOUT:-10}
export REFLOW_SLURM_PREEMPT=${REFLOW_SLURM_PREEMPT:-1}
export REFLOW_SLURM_JOB_REQUEUE=${REFLOW_SLURM_JOB_REQUEUE:-0}
export REFLOW_SLURM_MIN_JOB_AGE=${REFLOW_SLURM_MIN_JOB_AGE:-600}
exec "$here/../slurm/start.sh"
