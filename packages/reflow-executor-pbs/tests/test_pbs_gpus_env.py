"""GPUs in PBS Pro's select (ngpus) and Torque's nodes (gpus), and the task environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import BatchExecutorError, TaskEnvironment
from reflow.testing.taskenv import TaskEnvironmentConformance, environment_job
from reflow_executor_pbs import PBSExecutor


class TestPBSProTaskEnvironment(TaskEnvironmentConformance):
    __test__ = True

    def make_executor(self, tmp_path: Path) -> PBSExecutor:
        return PBSExecutor(state_dir=tmp_path / "state", flavor="pbspro")


class TestTorqueTaskEnvironment(TestPBSProTaskEnvironment):
    def make_executor(self, tmp_path: Path) -> PBSExecutor:
        return PBSExecutor(state_dir=tmp_path / "state", flavor="torque")


def test_pbspro_asks_for_ngpus_in_the_select(tmp_path: Path) -> None:
    text = PBSExecutor(state_dir=tmp_path, flavor="pbspro").describe_submission(
        environment_job(tmp_path, gpus=2, cpus=8)
    )
    assert "#PBS -l select=1:ncpus=8:mem=1024mb:ngpus=2" in text


def test_torque_asks_for_gpus_on_the_node(tmp_path: Path) -> None:
    text = PBSExecutor(state_dir=tmp_path, flavor="torque").describe_submission(
        environment_job(tmp_path, gpus=1, cpus=4)
    )
    assert "nodes=1:ppn=4:gpus=1," in text


@pytest.mark.parametrize("flavor", ["pbspro", "torque"])
def test_a_gpu_model_is_refused_with_the_option_to_use(tmp_path: Path, flavor: str) -> None:
    job = environment_job(tmp_path, gpus=1, gpu_type="a100")
    with pytest.raises(BatchExecutorError, match="no standard PBS resource") as caught:
        PBSExecutor(state_dir=tmp_path, flavor=flavor).describe_submission(job)
    assert ("select_extra" if flavor == "pbspro" else "nodes_extra") in str(caught.value)


def test_a_failing_module_load_is_the_recorded_exit_status(tmp_path: Path) -> None:
    """PBS scripts wait for the command: the set-up runs in its subshell, so .exit is written."""
    job = environment_job(tmp_path, environment=TaskEnvironment(prologue=("false",)))
    text = PBSExecutor(state_dir=tmp_path, flavor="torque").describe_submission(job)
    start = text.index("\n(\n")
    assert text[start:].startswith("\n(\n  set -e") and ") &\nreflow_child=$!" in text
