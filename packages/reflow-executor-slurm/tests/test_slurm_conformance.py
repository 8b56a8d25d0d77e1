"""The executor conformance suite against a real Slurm cluster.

Skipped unless ``SLURM_CONF`` names the configuration of a running cluster
(``scontrol ping`` succeeds).  The jobs write into pytest's temporary
directory, so the cluster's nodes must see it: run it against a single-host
test cluster, e.g. the one ``tests/clusters/slurm/start.sh`` starts (as root,
from the repository's root)::

    eval "$(tests/clusters/slurm/start.sh)"
    .venv/bin/python -m pytest packages/reflow-executor-slurm/tests/test_slurm_conformance.py

``nox -s "cluster(slurm)"`` starts the cluster, runs this and stops it.

Slurm counts walltime in whole minutes, so the walltime test takes a bit
over a minute; both classes together take about two minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reflow.executors import (
    Executor,
)
from reflow.testing.executor import ExecutorConformance
from reflow_executor_slurm import SlurmExecutor


def _cluster_problem() -> str | None:
    """Why the suite cannot run here, or ``None`` if a cluster answers."""
    conf = os.environ.get("SLURM_CONF")
    if not conf:
        return "set SLURM_CONF to the slurm.conf of a running test cluster to run it"
    if not Path(conf).is_file():
        return f"SLURM_CONF={conf} is not a file"
    if shutil.which("scontrol") is None:
        return "the Slurm commands (scontrol) are not on PATH"
    try:
        ping = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return "scontrol ping did not answer within 20 s"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        said = (ping.stdout + ping.stderr).strip()
        return f"scontrol ping found no running controller for SLURM_CONF={conf}: {said}"
    return None


_PROBLEM = _cluster_problem()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_PROBLEM is not None, reason=f"real Slurm conformance skipped: {_PROBLEM}"),
]


class TestSlurmConformance(ExecutorConformance):
    __test__ = True
    timeout = 240.0  # Slurm kills a job at its walltime only with whole-minute limits
    poll_interval = 0.5
    walltime = "00:01:00"  # Slurm's shortest walltime
    dry_run_wait = 3.0

    def make_executor(self, tmp_path: Path) -> SlurmExecutor:
        return SlurmExecutor(state_dir=tmp_path / "slurm-state", backoff=0.2)


class TestSlurmConformanceSplitArrays(TestSlurmConformance):
    """The same suite with a site limit of two array tasks: every array is split into chunks.

    The chunks are submitted as separate Slurm arrays, each numbered from 0,
    as they are when an array outgrows a real site's ``MaxArraySize``.
    """

    def make_executor(self, tmp_path: Path) -> SlurmExecutor:
        return SlurmExecutor(state_dir=tmp_path / "slurm-state", backoff=0.2, max_array_size=2)

    def test_walltime_exceeded_is_timeout(self, executor: Executor, work: Path) -> None:
        pytest.skip("no array involved: TestSlurmConformance covers it")
