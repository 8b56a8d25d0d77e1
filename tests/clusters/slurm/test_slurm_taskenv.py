"""Task environments and programs on the real Slurm test cluster.

A real Lmod module (written by the test) loads in a job, a missing one fails the task with
Lmod's own error in its failure reason, and the bwa / samtools / bcftools example runs to
SUCCESS as Slurm jobs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from reflow import RunState
from reflow.testing.scripts import import_script, load_script

ROOT = Path(__file__).parents[3]
FLOW = """
import os
from reflow import Workflow
wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M", modules=["{module}"])
def show() -> str:
    return os.environ["REFLOW_TEST_MODULE"]
"""


def _require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (.ci/run installs them)"
        if os.environ.get("REFLOW_REQUIRE_PROGRAMS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_an_lmod_module_loads_in_a_slurm_job_and_a_missing_one_fails_the_task(
    tmp_path: Path, store: Any, executor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/usr/share/lmod/lmod/init/profile").exists():
        _require("lmod")
    modules = tmp_path / "modules" / "reflowtest"
    modules.mkdir(parents=True)
    (modules / "1.lua").write_text('setenv("REFLOW_TEST_MODULE", "loaded-in-slurm")\n')
    # The job inherits the submitting environment (export_env): MODULEPATH, not `module`.
    monkeypatch.setenv("MODULEPATH", str(modules.parent))
    monkeypatch.delenv("BASH_FUNC_module%%", raising=False)
    runs = {}
    for name, module in (("lmodgood", "reflowtest/1"), ("lmodbad", "nosuch/0")):
        wf = load_script(tmp_path, name, FLOW.format(name=name, module=module)).wf
        runs[name] = wf.submit(tmp_path / name, store=store, executor=executor)
    assert runs["lmodgood"].wait(timeout=240) is RunState.SUCCESS
    assert runs["lmodgood"].output("show") == "loaded-in-slurm"
    assert runs["lmodbad"].wait(timeout=240) is RunState.FAILED
    (failure,) = runs["lmodbad"].status_dict()["failed_instances"]
    assert "The following module(s) are unknown" in failure["error"]
    assert "reflow: module load nosuch/0 failed" in failure["error"]


def test_the_variants_example_runs_to_success_as_slurm_jobs(
    tmp_path: Path, store: Any, executor: Any
) -> None:
    _require("bwa", "samtools", "bcftools")
    wf = import_script(ROOT / "examples" / "variants" / "variants.py", "variants_on_slurm").wf
    run = wf.submit(tmp_path / "run", store=store, executor=executor)
    assert run.wait(timeout=600) is RunState.SUCCESS
    result = run.output("call")
    assert result["called"] == result["true_snps_called"] == 10
    logs = "".join(p.read_text() for p in (tmp_path / "run" / "logs").glob("align-*.err"))
    assert "+ bwa mem -t 2 -R" in logs  # the command as run, in the job's log


CONTAINER_FLOW = """
import os
from reflow import Workflow
wf = Workflow("slurmbox")

@wf.job(time="00:05:00", mem="200M", container="/images/tools.sif")
def inside() -> str:
    return os.environ["SLURM_JOB_ID"]
"""


def test_a_slurm_job_runs_its_worker_in_the_container(
    tmp_path: Path, store: Any, executor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a fake ``apptainer`` on PATH (no real runtime could be installed): the exact argv."""
    import sys

    from reflow.testing.taskenv import fake_apptainer

    fake = fake_apptainer(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")  # the job inherits it
    monkeypatch.setenv("REFLOW_TEST_ARGV", str(tmp_path / "argv"))
    wf = load_script(tmp_path, "slurmbox", CONTAINER_FLOW).wf
    run = wf.submit(tmp_path / "run", store=store, executor=executor)
    assert run.wait(timeout=240) is RunState.SUCCESS
    assert run.output("inside").isdigit()  # ran as a Slurm job
    argv = (tmp_path / "argv").read_text().splitlines()
    image = argv.index("/images/tools.sif")
    assert argv[:image] == [
        "exec",
        *("--bind", str(tmp_path / "run")),
        *("--bind", str(tmp_path)),
        *("--bind", sys.prefix),
    ]
    assert argv[image + 1 : image + 5] == [sys.executable, "-m", "reflow.job", "work"]
