"""Check that ``REFLOW_JOB_ID`` in a job names the job (or element) for the executor.

A dispatcher that lost track of its jobs adopts them again from the id each
worker saw in ``REFLOW_JOB_ID``: the executor's :meth:`~reflow.executors.Executor.query`
must know that id, and for an array element, the id with its index
(:func:`~reflow.executors.element_id`).  An executor package checks it with::

    from reflow.testing.job_ids import check_reflow_job_ids

    def test_reflow_job_id(tmp_path, fake_acme):
        check_reflow_job_ids(AcmeExecutor(), tmp_path / "work")

It imports pytest (through :mod:`reflow.testing.executor`): import it only from tests.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from reflow.executors import ArraySpec, Executor, JobResources, JobSpec, JobState, element_id
from reflow.testing.executor import wait_for

__all__ = ["JOB_ID_INDICES", "check_reflow_job_ids"]

JOB_ID_INDICES = (0, 2, 5)
"""The indices of the array :func:`check_reflow_job_ids` submits."""

_CODE = (
    "import os, pathlib; "
    "i = os.environ.get('REFLOW_ARRAY_INDEX', 'single'); "
    "pathlib.Path(f'id-{i}.txt').write_text(os.environ['REFLOW_JOB_ID'])"
)


def check_reflow_job_ids(
    executor: Executor, work: Path, *, python: str = sys.executable, timeout: float = 60.0
) -> None:
    """Run a single job and a 3-element array; query each by the id it saw.

    Parameters
    ----------
    executor : Executor
        The executor under test.
    work : Path
        A directory (created here, so it must not exist) that the jobs can
        write and this process can read.
    python : str
        The interpreter the jobs run.
    timeout : float
        Seconds the jobs may take to end; their files may take 30 more to appear.

    Raises
    ------
    AssertionError
        If a job did not write its id, or ``query`` does not answer
        COMPLETED for the id (with the element's index) a job saw.
    """
    work.mkdir()

    def spec(array: ArraySpec | None) -> JobSpec:
        return JobSpec(
            name="ids",
            command=(python, "-c", _CODE),
            workdir=work,
            log_dir=work / "logs",
            resources=JobResources(cpus=1, time="00:05:00", mem="100M"),
            array=array,
        )

    single = executor.submit(spec(None))
    array = executor.submit(spec(ArraySpec(JOB_ID_INDICES, 2)))
    wait_for(executor, [single, array], JobState.ended(), timeout=timeout)
    deadline = time.monotonic() + 30
    while len(list(work.glob("id-*.txt"))) < 1 + len(JOB_ID_INDICES):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not every job wrote its id: {sorted(work.iterdir())}")
        time.sleep(0.1)
    # As the dispatcher does: the job id a worker saw, plus its index, is asked for.
    seen = (work / "id-single.txt").read_text()
    state = executor.query([seen])[seen].state
    if state is not JobState.COMPLETED:
        raise AssertionError(f"query({seen!r}) is {state.value}, not COMPLETED")
    for index in JOB_ID_INDICES:
        own = element_id((work / f"id-{index}.txt").read_text(), index)
        found = executor.query([own.rsplit("[", 1)[0]])
        if found[own].state is not JobState.COMPLETED:
            raise AssertionError(f"element {own} is not COMPLETED: {found}")
