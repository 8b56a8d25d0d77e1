#!/usr/bin/env bash
# Stop the pbs-torque test cluster: tests/clusters/slurm/stop.sh on its base directory.
#
# Knobs (environment)
#   REFLOW_PBS_TORQUE_BASE   /tmp/reflow-pbs-torque (as for start.sh)
#   REFLOW_SLURM_WIPE        1: also delete the base directory
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${REFLOW_PBS_TORQUE_BASE:-/tmp/reflow-pbs-torque}
[[ $BASE == /?* ]] || { echo "REFLOW_PBS_TORQUE_BASE must be an absolute path, not '$BASE'" >&2; exit 1; }
REFLOW_SLURM_BASE=$BASE exec "$HERE/../slurm/stop.sh"
