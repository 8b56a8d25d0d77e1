"""The executor conformance suite, against the fake PBS Pro server.

The flavour is detected from the fake's ``qstat --version`` (``pbs_version = 22.05.11``).
The second class runs the suite again on a server without job history, where finished
jobs vanish from ``qstat -x`` and the jobs' own markers give their outcome; the third
with a ``max_array_size`` of 2, so that every array is split into chunks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import (
    Executor,
)
from reflow.testing.executor import ExecutorConformance
from reflow_executor_pbs import PBSExecutor
from reflow_fake_schedulers import FakeScheduler


class _OnTheFake(ExecutorConformance):
    """The suite's settings for the fake: jobs start at once, walltimes count seconds."""

    timeout = 60.0
    poll_interval = 0.2
    walltime = "00:00:02"


class TestPBSConformance(_OnTheFake):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _scheduler(self, fake_pbs: FakeScheduler) -> None:
        self.fake = fake_pbs

    def make_executor(self, tmp_path: Path) -> Executor:
        return PBSExecutor(state_dir=tmp_path / "pbs-state", backoff=0.1)

    def test_the_flavour_is_read_from_qstat_version(self, tmp_path: Path) -> None:
        executor = PBSExecutor(state_dir=tmp_path / "pbs-state")
        assert executor.flavor.value == "pbspro"
        assert executor.probe() == (executor.flavor, "22.05.11")


class TestPBSConformanceWithoutHistory(_OnTheFake):
    __test__ = True

    @pytest.fixture(autouse=True)
    def _scheduler(self, fake_pbs_no_history: FakeScheduler) -> None:
        self.fake = fake_pbs_no_history

    def make_executor(self, tmp_path: Path) -> Executor:
        return PBSExecutor(state_dir=tmp_path / "pbs-state", backoff=0.1, flavor="pbspro")


class TestPBSConformanceSplitArrays(TestPBSConformance):
    """Every array split into chunks of two subjobs (a one-subjob chunk is a plain job)."""

    def make_executor(self, tmp_path: Path) -> Executor:
        return PBSExecutor(state_dir=tmp_path / "pbs-state", backoff=0.1, max_array_size=2)

    def test_walltime_exceeded_is_timeout(self, executor: Executor, work: Path) -> None:
        pytest.skip("no array involved: TestPBSConformance covers it")
