"""REFLOW_JOB_ID in a job names it for reflow (how a dispatcher adopts jobs it lost), split too."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reflow.executors import ArraySpec, JobResources, JobSpec, JobState, element_id
from reflow.testing.executor import wait_for

if TYPE_CHECKING:  # the fixture's type; conftest.py is not importable as a module
    from conftest import SGECell

CODE = (
    "import os, pathlib; "
    "i = os.environ.get('REFLOW_ARRAY_INDEX', 'single'); "
    "pathlib.Path(f'id-{i}.txt').write_text(os.environ['REFLOW_JOB_ID'])"
)


@pytest.mark.parametrize("max_array_tasks", [None, 2], ids=["one-array", "split-in-chunks"])
def test_reflow_job_id_names_the_job_and_each_element(
    tmp_path: Path, sge: SGECell, max_array_tasks: int | None
) -> None:
    from reflow_executor_sge import SGEExecutor

    executor = SGEExecutor(state_dir=tmp_path / "state", max_array_tasks=max_array_tasks)
    work = tmp_path / "work"
    work.mkdir()

    def spec(array: ArraySpec | None) -> JobSpec:
        return JobSpec(
            name="ids",
            command=(sys.executable, "-c", CODE),
            workdir=work,
            log_dir=work / "logs",
            resources=JobResources(cpus=1, time="00:05:00", mem="500M"),
            array=array,
        )

    single = executor.submit(spec(None))
    array = executor.submit(spec(ArraySpec((0, 2, 5), 2)))
    wait_for(executor, [single, array], JobState.ended(), timeout=120, interval=0.5)
    deadline = time.monotonic() + 30
    while len(list(work.glob("id-*.txt"))) < 4:
        assert time.monotonic() < deadline, list(work.iterdir())
        time.sleep(0.2)
    # As the dispatcher does: the job id a worker saw, plus its index, is asked for.
    seen = (work / "id-single.txt").read_text()
    assert seen == single
    assert executor.query([seen])[seen].state is JobState.COMPLETED
    for index in (0, 2, 5):
        chunk = (work / f"id-{index}.txt").read_text()
        assert chunk in array.split("+")
        own = element_id(chunk, index)
        found = executor.query([chunk])
        assert found[own].state is JobState.COMPLETED, (own, found)
