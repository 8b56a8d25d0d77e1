"""GPUs in Flux's syntax (flux submit --gpus-per-task=N, one task) and the task environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import BatchExecutorError
from reflow.testing.taskenv import TaskEnvironmentConformance, environment_job
from reflow_executor_flux import FluxExecutor


class TestFluxTaskEnvironment(TaskEnvironmentConformance):
    __test__ = True

    def make_executor(self, tmp_path: Path) -> FluxExecutor:
        return FluxExecutor(state_dir=tmp_path / "state")


def test_gpus_are_asked_per_task(tmp_path: Path) -> None:
    text = FluxExecutor(state_dir=tmp_path).describe_submission(environment_job(tmp_path, gpus=2))
    assert "--ntasks=1" in text and "--gpus-per-task=2" in text


def test_a_gpu_model_and_native_gpu_options_are_refused(tmp_path: Path) -> None:
    flux = FluxExecutor(state_dir=tmp_path)
    with pytest.raises(BatchExecutorError, match="no GPU model"):
        flux.describe_submission(environment_job(tmp_path, gpus=1, gpu_type="a100"))
    job = environment_job(tmp_path, gpus=1, options={"gpus_per_node": 1})
    with pytest.raises(BatchExecutorError, match="'gpus_per_node'; keep only"):
        flux.describe_submission(job)
