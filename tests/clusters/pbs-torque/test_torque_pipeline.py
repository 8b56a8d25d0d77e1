"""The PBS executor in Torque mode on Slurm's Torque wrappers: pipeline, exits, walltime, qdel.

The wrappers are a partial Torque: ``qstat`` shows only Q/R/C with no exit status and
lists array tasks under raw Slurm ids, jobs get ``PBS_ARRAY_INDEX`` (not ``PBS_ARRAYID``),
and ``qstat --version`` and ``-t`` are refused.  What reflow reports comes from the
jobs' own markers and the scheduler's output file where qstat says nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reflow import RunState
from reflow.executors.jobs import ArraySpec, JobResources, JobSpec, JobState, element_id
from reflow.testing.executor import max_overlap, wait_for
from reflow.testing.scripts import load_script
from reflow_executor_pbs import PBSExecutor

PIPELINE = """
import time
from typing import Annotated
from reflow import Result, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="200M")
def find_files(n: int = 20) -> list[str]:
    return [f"file_{{i}}.dat" for i in range(n)]

@wf.job(array=True, array_parallelism=2, time="00:05:00", mem="200M")
def process(path: Annotated[str, Result(step="find_files")]) -> dict[str, float | str]:
    start = time.time()
    time.sleep(0.5)
    return {{"path": path.upper(), "start": start, "end": time.time()}}

@wf.job(time="00:05:00", mem="200M")
def report(results: Annotated[list[dict[str, float | str]], Result(step="process")]) -> str:
    return ",".join(str(r["path"]) for r in results)
"""


def load(tmp_path: Path, name: str) -> ModuleType:
    return load_script(tmp_path, name, PIPELINE.format(name=name))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    from reflow.stores.sqlite import SqliteStore

    st = SqliteStore(tmp_path / "manifest.db")
    st.init()
    return st


@pytest.fixture
def executor(tmp_path: Path, torque: Any) -> PBSExecutor:
    made = PBSExecutor(state_dir=tmp_path / "pbs-state", pbs_bin=str(torque.bin_dir))
    assert made.flavor.value == "torque"  # REFLOW_PBS_FLAVOR from cluster.env
    return made


def job(tmp_path: Path, name: str, code: str, **kwargs: Any) -> JobSpec:
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True, exist_ok=True)
    time_limit = kwargs.pop("time", "00:05:00")
    return JobSpec(
        name=name,
        command=(sys.executable, "-c", code),
        workdir=work,
        log_dir=work / "logs",
        resources=JobResources(cpus=1, time=time_limit, mem="200M"),
        **kwargs,
    )


def test_user_guide_pipeline_reaches_success(
    tmp_path: Path, store: Any, executor: PBSExecutor
) -> None:
    mod = load(tmp_path, "torque20")
    run = mod.wf.submit(tmp_path / "run", store=store, executor=executor, n=20)
    assert run.wait(timeout=600) is RunState.SUCCESS
    outputs = run.output("process")
    assert [o["path"] for o in outputs] == [f"FILE_{i}.DAT" for i in range(20)]
    assert max_overlap([(o["start"], o["end"]) for o in outputs]) <= 2
    assert run.output("report") == ",".join(f"FILE_{i}.DAT" for i in range(20))
    script = next((tmp_path / "run").rglob("torque20.process.*.sh")).read_text()
    assert "#PBS -t 1-20%2" in script and "nodes=1:ppn=1" in script, script


def test_exit_status_and_array_index_reach_reflow(
    tmp_path: Path, executor: PBSExecutor, torque: Any
) -> None:
    failing = executor.submit(job(tmp_path, "t-exit", "import sys; sys.exit(3)"))
    code = (
        "import os, pathlib\n"
        "i = os.environ['REFLOW_ARRAY_INDEX']\n"
        "pathlib.Path(f'index-{i}.txt').write_text(os.environ['PBS_ARRAY_INDEX'])\n"
    )
    array = executor.submit(job(tmp_path, "t-array", code, array=ArraySpec((0, 2, 5))))
    elements = [element_id(array, i) for i in (0, 2, 5)]
    found = wait_for(executor, [failing, array, *elements], JobState.ended(), 120, 0.5)
    assert (found[failing].state, found[failing].exit_code) == (JobState.FAILED, 3)
    assert all(found[e].state is JobState.COMPLETED for e in elements), found
    work = tmp_path / "work"
    assert {p.name: p.read_text() for p in work.glob("index-*.txt")} == {
        "index-0.txt": "1",
        "index-2.txt": "2",
        "index-5.txt": "3",
    }
    assert f"{failing} " in torque.run("qstat", failing)  # qstat itself says only C
    assert "job_state = C" in torque.run("qstat", "-f", failing)


def test_qdel_of_a_running_job_is_cancelled(
    tmp_path: Path, executor: PBSExecutor, torque: Any
) -> None:
    code = "import pathlib, time; pathlib.Path('up.txt').write_text('1'); time.sleep(300)"
    running = executor.submit(job(tmp_path, "t-cancel", code))
    deadline = time.monotonic() + 60
    while not (tmp_path / "work" / "up.txt").exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.3)
    executor.cancel([running])
    found = wait_for(executor, [running], JobState.ended(), 60, 0.5)
    assert found[running].state is JobState.CANCELLED, found
    assert "job_state = C" in torque.run("qstat", "-f", running)


def test_walltime_kill_is_timeout(tmp_path: Path, executor: PBSExecutor) -> None:
    """Slurm kills at whole minutes: the job ends TIMEOUT about a minute after it starts."""
    sleeper = job(tmp_path, "t-wall", "import time; time.sleep(600)", time="00:01:00")
    slow = executor.submit(sleeper)
    found = wait_for(executor, [slow], JobState.ended(), 240, 1.0)
    assert found[slow].state is JobState.TIMEOUT, found
    assert "TIME LIMIT" in found[slow].reason
