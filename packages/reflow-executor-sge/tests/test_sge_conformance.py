"""The executor conformance suite against a real Grid Engine cell.

Skipped unless ``SGE_ROOT`` names a cell whose qmaster answers (``qstat``
succeeds).  The jobs write into pytest's temporary directory, so the cell's
exec hosts must see it: run it against a single-host test cell, e.g. the one
``tests/clusters/sge/start.sh`` starts::

    eval "$(tests/clusters/sge/start.sh)"
    .venv/bin/python -m pytest packages/reflow-executor-sge/tests/test_sge_conformance.py

``nox -s "cluster(sge)"`` does both (and stops the cell afterwards).
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
from reflow_executor_sge import SGEExecutor


def _cell_problem() -> str | None:
    """Why the suite cannot run here, or ``None`` if a cell answers."""
    root = os.environ.get("SGE_ROOT")
    if not root:
        return "set SGE_ROOT (and SGE_CELL) to a running test cell to run it"
    if not Path(root).is_dir():
        return f"SGE_ROOT={root} is not a directory"
    if shutil.which("qstat") is None:
        return "the Grid Engine commands (qstat) are not on PATH"
    try:
        probe = subprocess.run(
            ["qstat", "-xml"], capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return "qstat did not answer within 20 s"
    if probe.returncode != 0:
        return f"qstat found no running qmaster for SGE_ROOT={root}: {probe.stderr.strip()}"
    return None


_PROBLEM = _cell_problem()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        _PROBLEM is not None and os.environ.get("REFLOW_TEST_CLUSTER") != "sge",
        reason=f"real Grid Engine conformance skipped: {_PROBLEM}",
    ),
]


@pytest.fixture(autouse=True)
def _cell_required() -> None:
    if _PROBLEM is not None:  # only reached under REFLOW_TEST_CLUSTER=sge
        pytest.fail(f"no Grid Engine test cell: {_PROBLEM}", pytrace=False)


class TestSGEConformance(ExecutorConformance):
    __test__ = True
    timeout = 90.0
    poll_interval = 0.5
    # s_rt (SIGUSR1) at 9 s, h_rt at 10 s: the job ends at its soft limit.
    walltime = "00:00:10"
    dry_run_wait = 3.0

    def make_executor(self, tmp_path: Path) -> SGEExecutor:
        return SGEExecutor(state_dir=tmp_path / "sge-state", backoff=0.2)


class TestSGEConformanceSplitArrays(TestSGEConformance):
    """The same suite with a cell limit of two array tasks: every array is split into chunks.

    The chunks are submitted as separate Grid Engine arrays, each numbered
    from 1, as they are when an array outgrows a real cell's ``max_aj_tasks``.
    """

    def make_executor(self, tmp_path: Path) -> SGEExecutor:
        return SGEExecutor(state_dir=tmp_path / "sge-state", backoff=0.2, max_array_tasks=2)

    def test_walltime_exceeded_is_timeout(self, executor: Executor, work: Path) -> None:
        pytest.skip("no array involved: TestSGEConformance covers it")
