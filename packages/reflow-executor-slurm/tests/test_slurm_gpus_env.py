"""GPUs in Slurm's syntax (sbatch(1) --gpus=[type:]N) and the task environment in the script."""

from __future__ import annotations

from pathlib import Path

import pytest

from reflow.executors import BatchExecutorError
from reflow.testing.taskenv import TaskEnvironmentConformance, environment_job
from reflow_executor_slurm import SlurmExecutor


class TestSlurmTaskEnvironment(TaskEnvironmentConformance):
    __test__ = True

    def make_executor(self, tmp_path: Path) -> SlurmExecutor:
        return SlurmExecutor(state_dir=tmp_path / "state")


@pytest.mark.parametrize(
    ("gpus", "kind", "line"), [(2, None, "--gpus=2"), (1, "a100", "--gpus=a100:1")]
)
def test_gpus_become_one_directive(tmp_path: Path, gpus: int, kind: str | None, line: str) -> None:
    text = SlurmExecutor(state_dir=tmp_path).render_script(
        environment_job(tmp_path, gpus=gpus, gpu_type=kind), None
    )
    assert [d for d in text.splitlines() if d.startswith("#SBATCH --gpu")] == [f"#SBATCH {line}"]


def test_no_gpus_no_directive_and_per_gpu_options_pass_through(tmp_path: Path) -> None:
    slurm = SlurmExecutor(state_dir=tmp_path)
    assert "#SBATCH --gpu" not in slurm.render_script(environment_job(tmp_path), None)
    job = environment_job(tmp_path, gpus=2, options={"cpus_per_gpu": 4})
    text = slurm.render_script(job, None)
    assert "#SBATCH --gpus=2" in text and "#SBATCH --cpus-per-gpu=4" in text


def test_gpus_twice_is_refused_in_one_line(tmp_path: Path) -> None:
    job = environment_job(tmp_path, gpus=2, options={"gpus": 1})
    with pytest.raises(BatchExecutorError, match="both gpus= and the native submit option 'gpus'"):
        SlurmExecutor(state_dir=tmp_path).render_script(job, None)
