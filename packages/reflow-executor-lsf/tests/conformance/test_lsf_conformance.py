"""reflow's executor conformance suite, with LSFExecutor against the LSF fake.

The fake runs the jobs on this host and counts bsub's ``-W`` in minutes, as
LSF does, so the walltime test takes a bit over a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.testing.executor import ExecutorConformance
from reflow_executor_lsf import LSFExecutor
from reflow_fake_schedulers import FakeScheduler


class TestLSFConformance(ExecutorConformance):
    __test__ = True
    timeout = 150.0
    walltime = "00:01:00"  # LSF's -W counts whole minutes

    @pytest.fixture(autouse=True)
    def _fake(self, fake_lsf: FakeScheduler) -> None:
        self.fake = fake_lsf

    def make_executor(self, tmp_path: Path) -> LSFExecutor:
        return LSFExecutor(state_dir=tmp_path / "lsf-state", backoff=0.1)
