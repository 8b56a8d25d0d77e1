#!/usr/bin/env bash
# Start the test cluster of the PBS executor's Torque mode: a real single-host Slurm cluster
# (tests/clusters/slurm/start.sh) with spank_pbs, so that jobs see PBS_JOBID, PBS_ARRAY_INDEX ...,
# and the Torque wrappers of slurm-wlm-torque (qsub, qstat, qdel) unpacked under the base dir.
#
# It has its own base directory and ports, so it never receives the jobs of the Slurm test
# cluster (default base /tmp/reflow-slurm, ports 7817-7819) and can run beside it. munged is
# shared: Slurm's start.sh starts one only if none answers.
#
# Log lines go to stderr; $REFLOW_PBS_TORQUE_BASE/cluster.env gets the client environment
# (KEY=VALUE lines: SLURM_CONF, REFLOW_PBS_BIN, REFLOW_PBS_FLAVOR) and stdout the same lines as `export`s:
#     eval "$(tests/clusters/pbs-torque/start.sh)"
#
# Knobs (environment)                    default
#   REFLOW_PBS_TORQUE_BASE                /tmp/reflow-pbs-torque  (absolute path)
#   REFLOW_PBS_TORQUE_CTLD_PORT           7827  slurmctld
#   REFLOW_PBS_TORQUE_SLURMD_PORT         7828  slurmd
#   REFLOW_PBS_TORQUE_DBD_PORT            7829  slurmdbd
#   REFLOW_PBS_TORQUE_CPUS                8     CPUs the node advertises
# Every REFLOW_SLURM_* knob of tests/clusters/slurm/start.sh not listed here passes through.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${REFLOW_PBS_TORQUE_BASE:-/tmp/reflow-pbs-torque}

log() { printf '[pbs-torque start %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and start daemons)"
[[ $BASE == /?* ]] || die "REFLOW_PBS_TORQUE_BASE must be an absolute path, not '$BASE'"

REFLOW_SLURM_BASE=$BASE \
REFLOW_SLURM_CTLD_PORT=${REFLOW_PBS_TORQUE_CTLD_PORT:-7827} \
REFLOW_SLURM_SLURMD_PORT=${REFLOW_PBS_TORQUE_SLURMD_PORT:-7828} \
REFLOW_SLURM_DBD_PORT=${REFLOW_PBS_TORQUE_DBD_PORT:-7829} \
REFLOW_SLURM_CPUS=${REFLOW_PBS_TORQUE_CPUS:-${REFLOW_SLURM_CPUS:-8}} \
REFLOW_SLURM_PBS_ENV=1 \
  "$HERE/../slurm/start.sh" >/dev/null

CONF=$BASE/etc/slurm.conf
[ -f "$CONF" ] || die "the Slurm start.sh wrote no $CONF"

# The Torque wrappers. slurm-wlm-torque conflicts with gridengine-client (both ship
# /usr/bin/qsub), so it is not installed: its package is unpacked under the base directory
# and the tests call the wrappers there (REFLOW_PBS_BIN). They are perl scripts on
# libslurm-perl, which do not conflict with anything and are installed with apt if missing.
TORQUE=$BASE/torque
if [ ! -x "$TORQUE/usr/bin/qsub" ]; then
  DEPS=(libslurm-perl libslurmdb-perl libswitch-perl)
  missing=()
  for p in "${DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#missing[@]} -gt 0 ]; then
    [ "${REFLOW_SLURM_NO_APT:-0}" = 1 ] && die "missing packages: ${missing[*]} (REFLOW_SLURM_NO_APT=1)"
    log "apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } \
      || die "cannot install ${missing[*]} with apt-get"
  fi
  [ "${REFLOW_SLURM_NO_APT:-0}" = 1 ] && die "slurm-wlm-torque is not unpacked in $TORQUE (REFLOW_SLURM_NO_APT=1)"
  install -d -m 0755 "$TORQUE/pkg"
  log "apt-get download slurm-wlm-torque (unpacked in $TORQUE, not installed)"
  ( cd "$TORQUE/pkg" && rm -f ./*.deb && { apt-get download slurm-wlm-torque >&2 \
      || { apt-get update -q >&2 && apt-get download slurm-wlm-torque >&2; }; } ) \
    || die "cannot download slurm-wlm-torque with apt-get"
  dpkg-deb -x "$TORQUE"/pkg/slurm-wlm-torque_*.deb "$TORQUE" || die "cannot unpack slurm-wlm-torque"
fi
for tool in qsub qstat qdel; do
  [ -x "$TORQUE/usr/bin/$tool" ] || die "$TORQUE/usr/bin/$tool is missing from slurm-wlm-torque"
done
# qsub runs ${FindBin::Bin}/sbatch (and salloc, srun): the Slurm commands beside it.
for tool in sbatch salloc srun; do
  real=$(command -v "$tool") || die "$tool is not on PATH"
  ln -sfn "$real" "$TORQUE/usr/bin/$tool"
done
# The wrappers cannot tell their flavour through qstat --version: the tests name it.
printf 'SLURM_CONF=%s\nREFLOW_PBS_BIN=%s\nREFLOW_PBS_FLAVOR=torque\n' "$CONF" "$TORQUE/usr/bin" \
  >"$BASE/cluster.env.new"
mv -f "$BASE/cluster.env.new" "$BASE/cluster.env"
sed 's/^/export /' "$BASE/cluster.env"
log "Torque wrappers on Slurm up: SLURM_CONF=$CONF, wrappers in $TORQUE/usr/bin"
