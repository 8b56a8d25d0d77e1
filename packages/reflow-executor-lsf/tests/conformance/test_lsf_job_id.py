"""REFLOW_JOB_ID in a job names it for reflow: how a dispatcher adopts jobs it lost."""

from __future__ import annotations

from pathlib import Path

from reflow.testing.job_ids import check_reflow_job_ids
from reflow_executor_lsf import LSFExecutor
from reflow_fake_schedulers import FakeScheduler


def test_reflow_job_id_names_the_job_and_each_element(
    tmp_path: Path, fake_lsf: FakeScheduler
) -> None:
    executor = LSFExecutor(state_dir=tmp_path / "state", backoff=0.1)
    check_reflow_job_ids(executor, tmp_path / "work")
