"""The issue-17 pipeline, run on an executor and checked: submitted ahead, in two waves.

``find`` returns a list of ``n`` numbers; ``process`` fans out over it (an
array whose size is known only once ``find`` ran: the one dynamic boundary);
``clean`` is a 1:1 array chain on ``process``; ``summary`` gathers ``clean``;
``publish`` takes ``summary``'s value and is also ordered ``after=`` it.
A file ``fail-<x>`` in the run directory makes element ``x`` of ``process``
fail, ``slow-<x>`` makes it take 15 s.  An
executor package checks that a run takes exactly two submitting waves there,
with one call in its tests::

    from reflow.testing.ahead import run_ahead_pipeline

    def test_ahead(tmp_path, fake_acme):
        run = run_ahead_pipeline(tmp_path, "acme")

It imports pytest-free modules only, but asserts: import it only from tests.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from reflow import RunState
from reflow.runs.layout import RunLayout
from reflow.stores import open_store
from reflow.testing.scripts import load_script

if TYPE_CHECKING:
    from reflow.executors.base import Executor
    from reflow.executors.local.executor import LocalExecutor
    from reflow.run import Run
    from reflow.stores import Store

__all__ = [
    "AHEAD_PIPELINE",
    "ahead_total",
    "run_ahead_pipeline",
    "stop_after_first_wave",
    "submitted_by_wave",
]

AHEAD_PIPELINE = """
import time
from typing import Annotated
from reflow import Result, RunDir, Workflow

wf = Workflow("{name}")

@wf.job(time="00:05:00", mem="100M")
def find(n: int = 50) -> list[int]:
    return list(range(n))

@wf.job(array=True, time="00:05:00", mem="100M")
def process(x: Annotated[int, Result(step="find")], run_dir: RunDir = RunDir()) -> int:
    if (run_dir / f"fail-{{x}}").exists():
        raise RuntimeError(f"element {{x}} fails")
    if (run_dir / f"slow-{{x}}").exists():
        time.sleep(15)
    return x * 2

@wf.job(array=True, time="00:05:00", mem="100M")
def clean(x: Annotated[int, Result(step="process")]) -> int:
    return x + 1

@wf.job(time="00:05:00", mem="100M")
def summary(xs: Annotated[list[int], Result(step="clean")]) -> int:
    return sum(xs)

@wf.job(time="00:05:00", mem="100M", after=["summary"])
def publish(total: Annotated[int, Result(step="summary")]) -> str:
    return f"total={{total}}"
"""
"""The pipeline's source, with ``{name}`` for the workflow's name."""

_SUBMITTED = re.compile(r"Submitted \S+ (?:array )?job \S+ \([^.]+\.(\w+)")


def ahead_total(n: int) -> int:
    """What ``summary`` returns for ``n`` elements."""
    return sum(2 * x + 1 for x in range(n))


def stop_after_first_wave(run: Run, executor: LocalExecutor) -> None:
    """Cancel the run's second dispatcher and wait for ``find``: waves go by hand from here.

    Wave 1 submits ``find`` and queues wave 2's dispatcher after it; that
    dispatcher is cancelled before it can start, so a test drives the next
    waves itself (:func:`~reflow.engine.scheduler.dispatcher.dispatch_once`).
    Each wait gives up after a minute.
    """
    pending = RunLayout(run.run_dir, run.run_id).dispatcher_file
    first = json.loads(pending.read_text())["job_id"]
    for _ in range(600):
        second = json.loads(pending.read_text())["job_id"]
        if second != first:
            break
        time.sleep(0.1)
    executor.cancel([second])
    result = RunLayout(run.run_dir, run.run_id).result_file("find", None)
    for _ in range(600):
        if result.exists():
            break
        time.sleep(0.1)


def submitted_by_wave(run_dir: Path) -> list[list[str]]:
    """The task jobs each dispatcher submitted, read from the dispatchers' logs, in job order.

    Dispatcher logs are ``logs/dispatch.<run id>-<job id>.err``; job ids must
    sort as numbers (every executor reflow tests numbers its jobs).
    """
    logs = sorted(
        (run_dir / "logs").glob("dispatch.*.err"),
        key=lambda p: int(re.sub(r"\D", "", p.stem.rsplit("-", 1)[1]) or 0),
    )
    return [[n for n in _SUBMITTED.findall(p.read_text()) if n != "dispatch"] for p in logs]


def run_ahead_pipeline(
    directory: Path,
    executor: Executor | str,
    *,
    name: str = "ahead",
    n: int = 10,
    store: Store | None = None,
    timeout: float = 600.0,
) -> Run:
    """Submit the pipeline with ``n`` elements, wait, and check its outputs and waves.

    Returns
    -------
    Run
        The finished run, for checks only one executor can make.
    """
    module = load_script(directory, name, AHEAD_PIPELINE.format(name=name))
    if store is None:  # its own: another run of the same tasks would serve them from the cache
        store = open_store(directory / "manifest.db")
    run: Run = module.wf.submit(directory / "run", store=store, executor=executor, n=n)
    state = run.wait(timeout=timeout)
    assert state is RunState.SUCCESS, (state, run.run_id)
    assert run.output("publish") == f"total={ahead_total(n)}"
    waves = [w for w in submitted_by_wave(run.run_dir) if w]
    assert waves == [["find"], ["process", "clean", "summary", "publish"]], waves
    return run
