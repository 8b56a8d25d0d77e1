"""GPUs through the site's consumable ([executor.sge] gpu_resource) and the task environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import BatchExecutorError, ConfigError
from reflow.testing.taskenv import TaskEnvironmentConformance, environment_job
from reflow_executor_sge import SGEExecutor


class TestSGETaskEnvironment(TaskEnvironmentConformance):
    __test__ = True

    def make_executor(self, tmp_path: Path) -> SGEExecutor:
        return SGEExecutor(state_dir=tmp_path / "state", gpu_resource="gpu")


def test_gpus_are_the_sites_consumable_per_slot(tmp_path: Path) -> None:
    sge = SGEExecutor(state_dir=tmp_path, gpu_resource="gpu")
    text = sge.describe_submission(environment_job(tmp_path, gpus=4, cpus=2))
    assert "#$ -l h_rt=00:10:00,s_rt=00:09:00,h_vmem=512M,gpu=2" in text
    with pytest.raises(BatchExecutorError, match="ask for a multiple of cpus=3"):
        sge.describe_submission(environment_job(tmp_path, gpus=4, cpus=3))
    with pytest.raises(BatchExecutorError, match="gpu_type='a100' has no standard Grid Engine"):
        sge.describe_submission(environment_job(tmp_path, gpus=1, gpu_type="a100"))


def test_without_a_gpu_resource_gpus_are_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BatchExecutorError, match=r'gpu_resource = "gpu" under \[executor.sge\]'):
        SGEExecutor(state_dir=tmp_path).describe_submission(environment_job(tmp_path, gpus=1))
    with pytest.raises(ConfigError, match="gpu_resource='a b' is not a resource name"):
        SGEExecutor(state_dir=tmp_path, gpu_resource="a b")


def test_later_dispatchers_rebuild_the_executor_with_its_gpu_resource(tmp_path: Path) -> None:
    sge = SGEExecutor(state_dir=tmp_path, gpu_resource="gpu")
    rebuilt = SGEExecutor(**sge.recorded_options())
    assert rebuilt.gpu_resource == "gpu"
