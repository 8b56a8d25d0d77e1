"""REFLOW_JOB_ID in a job names it for reflow: how a dispatcher adopts jobs it lost."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from reflow.executors import ArraySpec, JobResources, JobSpec, JobState, element_id
from reflow.testing.executor import wait_for
from reflow.testing.fake_schedulers import FakeScheduler
from reflow_executor_lsf import LSFExecutor

CODE = (
    "import os, pathlib; "
    "i = os.environ.get('REFLOW_ARRAY_INDEX', 'single'); "
    "pathlib.Path(f'id-{i}.txt').write_text(os.environ['REFLOW_JOB_ID'])"
)


def test_reflow_job_id_names_the_job_and_each_element(
    tmp_path: Path, fake_lsf: FakeScheduler
) -> None:
    executor = LSFExecutor(state_dir=tmp_path / "state", backoff=0.1)
    work = tmp_path / "work"
    work.mkdir()

    def spec(array: ArraySpec | None) -> JobSpec:
        return JobSpec(
            name="ids",
            command=(sys.executable, "-c", CODE),
            workdir=work,
            log_dir=work / "logs",
            resources=JobResources(cpus=1, time="00:05:00", mem="100M"),
            array=array,
        )

    single = executor.submit(spec(None))
    array = executor.submit(spec(ArraySpec((0, 2, 5), 2)))
    wait_for(executor, [single, array], JobState.ended(), timeout=60)
    deadline = time.monotonic() + 30
    while len(list(work.glob("id-*.txt"))) < 4:
        assert time.monotonic() < deadline, list(work.iterdir())
        time.sleep(0.1)
    # As the dispatcher does: the job id a worker saw, plus its index, is asked for.
    seen = (work / "id-single.txt").read_text()
    assert executor.query([seen])[seen].state is JobState.COMPLETED
    for index in (0, 2, 5):
        own = element_id((work / f"id-{index}.txt").read_text(), index)
        found = executor.query([split(own)])
        assert found[own].state is JobState.COMPLETED, (own, found)


def split(ident: str) -> str:
    return ident.rsplit("[", 1)[0]
