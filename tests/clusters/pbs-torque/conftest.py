"""Fixtures for the PBS executor's Torque mode on reflow's pbs-torque test cluster.

That cluster is a real Slurm cluster with Slurm's Torque wrappers (``qsub``, ``qstat``,
``qdel`` of slurm-wlm-torque), started by ``tests/clusters/pbs-torque/start.sh``.
``nox -s "cluster(pbs-torque)"`` starts it, sets ``SLURM_CONF``, ``REFLOW_PBS_BIN`` and
``REFLOW_PBS_FLAVOR=torque`` from its ``cluster.env``, runs these tests and stops it.

Anywhere else they are skipped unless those variables name a running cluster written by
``start.sh``; with ``REFLOW_TEST_CLUSTER=pbs-torque`` (set by nox) a missing cluster is
an error instead.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: First line of every slurm.conf that tests/clusters/slurm/start.sh writes.
CONF_MARK = "# Written by reflow's tests/clusters/slurm/start.sh"


@dataclass(frozen=True)
class TorqueCluster:
    """The running cluster: its ``slurm.conf`` and the directory of the Torque wrappers."""

    conf: Path
    bin_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for the cluster's commands."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a command (a wrapper by its bare name, else from PATH); fail on error."""
        program = self.bin_dir / args[0]
        argv = [str(program) if program.exists() else args[0], *args[1:]]
        proc = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout


def _problem(conf: str | None, bin_dir: str | None) -> str | None:
    """Why these do not name a running pbs-torque test cluster, or None when they do."""
    if not conf or not bin_dir:
        return "SLURM_CONF or REFLOW_PBS_BIN is not set"
    try:
        first = Path(conf).read_text().split("\n", 1)[0]
    except OSError as exc:
        return f"cannot read SLURM_CONF={conf}: {exc.strerror}"
    if not first.startswith(CONF_MARK):
        return f"SLURM_CONF={conf} is not a reflow test cluster (not written by start.sh)"
    if not (Path(bin_dir) / "qsub").is_file():
        return f"REFLOW_PBS_BIN={bin_dir} holds no qsub"
    try:
        ping = subprocess.run(
            ["scontrol", "ping"],
            env={**os.environ, "SLURM_CONF": conf},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scontrol ping failed: {exc}"
    if "is UP" not in ping.stdout:
        return f"the cluster of SLURM_CONF={conf} is not up: {ping.stdout.strip()}"
    return None


@pytest.fixture(scope="session")
def torque() -> TorqueCluster:
    """The running pbs-torque cluster; skips (or fails, under nox) when there is none."""
    conf, bin_dir = os.environ.get("SLURM_CONF"), os.environ.get("REFLOW_PBS_BIN")
    problem = _problem(conf, bin_dir)
    if problem is not None:
        if os.environ.get("REFLOW_TEST_CLUSTER") == "pbs-torque":
            pytest.fail(f"no pbs-torque test cluster: {problem}", pytrace=False)
        pytest.skip(
            f"no pbs-torque test cluster: {problem}; start one with "
            'tests/clusters/pbs-torque/start.sh, or run nox -s "cluster(pbs-torque)"'
        )
    assert conf is not None and bin_dir is not None
    return TorqueCluster(Path(conf), Path(bin_dir))
