"""Script checks every batch executor runs: a task's GPUs and environment in its job script.

:class:`TaskEnvironmentConformance` renders (``describe_submission``, nothing
is submitted) one job with modules, a prologue line and a container, and
checks that the script loads the modules, runs the prologue, runs the
command inside ``apptainer exec`` with the run directory bound, and is
valid shell (``bash -n``); an executor's own tests add its GPU syntax.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from reflow.define.taskenv import TaskEnvironment
from reflow.executors.base import Executor
from reflow.executors.jobs import JobResources, JobSpec

__all__ = ["TaskEnvironmentConformance", "environment_job", "fake_apptainer"]

ENVIRONMENT = TaskEnvironment(
    modules=("gcc/12", "cuda/12.2"),
    prologue=("export OMP_NUM_THREADS=4",),
    container="docker://python:3.12-slim",
)
"""The environment the suite asks for."""


def environment_job(
    tmp_path: Path,
    *,
    gpus: int = 0,
    gpu_type: str | None = None,
    environment: TaskEnvironment | None = None,
    options: dict[str, Any] | None = None,
    cpus: int = 1,
) -> JobSpec:
    """A job of ``python3 -c 'print(1)'`` in ``tmp_path/run`` with these resources."""
    return JobSpec(
        name="wf.task",
        command=("python3", "-c", "print(1)"),
        workdir=tmp_path / "run",
        log_dir=tmp_path / "run" / "logs",
        resources=JobResources(
            cpus=cpus,
            time="00:10:00",
            mem="1G",
            options=options or {},
            gpus=gpus,
            gpu_type=gpu_type,
            environment=environment or TaskEnvironment(),
        ),
        binds=("/opt/venv",),
    )


FAKE_APPTAINER = """#!/bin/bash
# reflow's fake apptainer: records its arguments, then runs the command after the image.
printf "%s\\n" "$@" > "${REFLOW_TEST_ARGV:-/dev/null}"
shift  # exec
while [ "${1#--}" != "$1" ]; do
  if [ "$1" = --bind ]; then shift 2; else shift; fi
done
shift  # the image
exec "$@"
"""


def fake_apptainer(directory: Path) -> Path:
    """Write an ``apptainer`` into ``directory`` that records its argv and runs the command.

    No real Apptainer or Singularity could be installed where reflow is
    developed: put ``directory`` first on ``PATH`` (the jobs inherit it) and
    the argument list lands, one per line, in the file ``REFLOW_TEST_ARGV``
    names, while the command after the image runs on the host.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fake = directory / "apptainer"
    fake.write_text(FAKE_APPTAINER)
    fake.chmod(0o755)
    return fake


class TaskEnvironmentConformance:
    """Subclass, set ``__test__ = True`` and implement :meth:`make_executor`."""

    __test__ = False

    def make_executor(self, tmp_path: Path) -> Executor:
        """The executor under test (never submits: only ``describe_submission`` is called)."""
        raise NotImplementedError

    def script(self, tmp_path: Path, **resources: Any) -> str:
        """The rendered submission of :func:`environment_job` with ``resources``."""
        executor = self.make_executor(tmp_path)
        return executor.describe_submission(environment_job(tmp_path, **resources))

    def test_modules_prologue_and_container_are_in_the_script(self, tmp_path: Path) -> None:
        text = self.script(tmp_path, environment=ENVIRONMENT)
        assert "module load gcc/12 || {" in text and "module load cuda/12.2 || {" in text
        assert "\nexport OMP_NUM_THREADS=4\n" in text.replace("  export", "export")
        run = tmp_path / "run"
        assert f"exec --bind {run} --bind /opt/venv" in text
        assert "docker://python:3.12-slim python3 -c 'print(1)'" in text
        assert text.index("module load gcc/12") < text.index("OMP_NUM_THREADS=4")
        assert text.index("OMP_NUM_THREADS=4") < text.index('"$reflow_runtime" exec')

    def test_the_script_is_valid_shell(self, tmp_path: Path) -> None:
        text = self.script(tmp_path, environment=ENVIRONMENT, gpus=1)
        script = "\n".join(line for line in text.splitlines() if not line.startswith(("$ ", "[")))
        checked = subprocess.run(
            ["bash", "-n"],  # noqa: S607
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr

    def test_gpus_add_nv_to_the_container(self, tmp_path: Path) -> None:
        assert " --nv docker://" in self.script(tmp_path, environment=ENVIRONMENT, gpus=1)

    def test_no_environment_leaves_the_command_alone(self, tmp_path: Path) -> None:
        text = self.script(tmp_path)
        assert "module" not in text and "apptainer" not in text
