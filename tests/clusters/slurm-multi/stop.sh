#!/usr/bin/env bash
# Stop the multi-node Slurm test cluster of ./start.sh (same REFLOW_SLURM_MULTI_BASE).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export REFLOW_SLURM_BASE=${REFLOW_SLURM_MULTI_BASE:-/tmp/reflow-slurm-multi}
exec "$here/../slurm/stop.sh"
