"""GPUs in LSF's syntax (bsub -gpu "num=N:gmodel=M") and the task environment in the script."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import BatchExecutorError
from reflow.testing.taskenv import TaskEnvironmentConformance, environment_job
from reflow_executor_lsf import LSFExecutor


class TestLSFTaskEnvironment(TaskEnvironmentConformance):
    __test__ = True

    def make_executor(self, tmp_path: Path) -> LSFExecutor:
        return LSFExecutor(state_dir=tmp_path / "state", mem_unit="MB")


@pytest.mark.parametrize(
    ("kind", "line"), [(None, "#BSUB -gpu num=2"), ("a100", "#BSUB -gpu num=2:gmodel=a100")]
)
def test_gpus_become_one_gpu_line(tmp_path: Path, kind: str | None, line: str) -> None:
    text = LSFExecutor(state_dir=tmp_path, mem_unit="MB").describe_submission(
        environment_job(tmp_path, gpus=2, gpu_type=kind)
    )
    assert [d for d in text.splitlines() if d.startswith("#BSUB -gpu")] == [line]


def test_gpus_twice_is_refused_in_one_line(tmp_path: Path) -> None:
    job = environment_job(tmp_path, gpus=1, options={"gpu": "num=1"})
    with pytest.raises(BatchExecutorError, match="both gpus= and the native submit option 'gpu'"):
        LSFExecutor(state_dir=tmp_path, mem_unit="MB").describe_submission(job)
